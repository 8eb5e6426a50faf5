use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::Value;
use sesame::config::parse_key;
use sesame::keys::{Alg, Kek, KeyStore};
use sesame::store::keys::SigningKeyRow;
use sesame::store::organizations::Organization;
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::helpers::{Backend, TEST_KEK, TestApp, stderr, stdout};

/// RFC 7638, written independently of the server's code.
fn thumbprint(jwk: &Value) -> String {
    let s = |k: &str| jwk[k].as_str().unwrap().to_string();
    let canonical = match s("kty").as_str() {
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            s("crv"),
            s("x"),
            s("y")
        ),
        "OKP" => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv"), s("x")),
        other => panic!("unexpected kty {other}"),
    };
    B64URL.encode(Sha256::digest(canonical.as_bytes()))
}

fn kids(jwks: &Value, alg: &str) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == alg)
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

fn org_id(app: &TestApp, slug: &str) -> i64 {
    Organization::find_by_slug(&mut app.db.get().unwrap(), slug)
        .unwrap()
        .unwrap()
        .id
}

/// Applications of the default organization that sign ID tokens with ES256 and EdDSA.
const ES_AND_ED_APPS: &str = r#"
[[organizations]]
slug = "default"

[[organizations.applications]]
client_id = "es-app"
type = "public"
redirect_uris = ["https://es.example/cb"]
id_token_signed_response_alg = "ES256"

[[organizations.applications]]
client_id = "ed-app"
type = "public"
redirect_uris = ["https://ed.example/cb"]
id_token_signed_response_alg = "EdDSA"
"#;

async fn first_use_creates_one_key_per_algorithm_with_thumbprint_kids(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    // Only RS256 is published while no application signs with anything else (some relying
    // parties cannot parse an OKP key), though a key exists for every algorithm.
    let alone = app.jwks("default").await;
    assert_eq!(kids(&alone, "RS256").len(), 1, "{alone}");
    assert_eq!(alone["keys"].as_array().unwrap().len(), 1, "{alone}");
    let listing = stdout(&app.cli(&["keys", "list", "--org", "default"]));
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(listing.contains(alg), "{listing}");
    }
    app.import(ES_AND_ED_APPS);
    let jwks = app.jwks("default").await;
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3, "{jwks}");
    let order: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(order, ["RS256", "ES256", "EdDSA"], "a stable order");
    for key in keys {
        assert_eq!(key["kid"].as_str().unwrap(), thumbprint(key));
        assert_eq!(key["use"], "sig");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "private member {private} published"
            );
        }
    }
    let rsa = keys.iter().find(|k| k["alg"] == "RS256").unwrap();
    assert_eq!(
        B64URL.decode(rsa["n"].as_str().unwrap()).unwrap().len(),
        256,
        "RSA 2048"
    );
    assert_eq!(kids(&jwks, "ES256").len(), 1);
    assert_eq!(kids(&jwks, "EdDSA").len(), 1);
    // The same keys on the next request: created once, not per request.
    assert_eq!(app.jwks("default").await, jwks);
}

async fn rotation_keeps_the_old_key_published_until_retired(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let before = app.jwks("default").await;
    let old_rsa = kids(&before, "RS256").remove(0);

    let out = app.cli(&[
        "keys", "rotate", "--org", "default", "--alg", "RS256", "--now",
    ]);
    assert!(out.status.success(), "{:?}: {}", out.status, stderr(&out));
    let after = app.jwks("default").await;
    let rsa = kids(&after, "RS256");
    assert_eq!(rsa.len(), 2, "{after}");
    assert_ne!(rsa[0], old_rsa, "the new active key is listed first");
    assert_eq!(rsa[1], old_rsa, "the old key stays published");
    assert_eq!(
        kids(&after, "ES256"),
        kids(&before, "ES256"),
        "other algorithms untouched"
    );

    // The new key is the one that signs now.
    let store = KeyStore::new(Kek::new(parse_key(TEST_KEK).unwrap()), Duration::ZERO);
    let keys = store.get(&app.db, org_id(&app, "default")).await.unwrap();
    assert_eq!(keys.signer(Alg::RS256).unwrap().kid, rsa[0]);
    assert_eq!(keys.jwks.body, serde_json::to_vec(&after).unwrap());

    // An active key cannot be retired; the old one can, and leaves the key set.
    let out = app.cli(&["keys", "retire", "--org", "default", "--kid", &rsa[0]]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot be retired"),
        "{}",
        stderr(&out)
    );
    let out = app.cli(&["keys", "retire", "--org", "default", "--kid", &old_rsa]);
    assert!(out.status.success(), "{:?}: {}", out.status, stderr(&out));
    assert_eq!(
        kids(&app.jwks("default").await, "RS256"),
        vec![rsa[0].clone()]
    );
    let listing = stdout(&app.cli(&["keys", "list", "--org", "default"]));
    assert!(
        listing.contains(&old_rsa) && listing.contains("retired"),
        "{listing}"
    );
}

async fn private_keys_are_encrypted_at_rest(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let jwks = app.jwks("default").await;
    let org = org_id(&app, "default");
    let rows = SigningKeyRow::list_all(&mut app.db.get().unwrap(), org).unwrap();
    assert_eq!(rows.len(), 3);
    for row in &rows {
        assert!(
            openssl::pkey::PKey::private_key_from_pkcs8(&row.private_key).is_err(),
            "stored in clear"
        );
    }
    // Another key-encryption key cannot use them.
    let wrong = KeyStore::new(
        Kek::new(parse_key("ZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=").unwrap()),
        Duration::ZERO,
    );
    let opened = wrong
        .get(&app.db, org)
        .await
        .expect("the public key set is still served");
    for alg in Alg::ALL {
        assert!(
            opened.signer(alg).is_none(),
            "{alg} opened with the wrong key"
        );
    }
    assert_eq!(app.jwks("default").await, jwks);
}

async fn two_nodes_creating_first_keys_at_once_agree(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.import(&crate::helpers::acme_toml());
    let org = org_id(&app, "acme");
    let node = || KeyStore::new(Kek::new(parse_key(TEST_KEK).unwrap()), Duration::ZERO);
    let (a, b) = (node(), node());
    let (ra, rb) = tokio::join!(a.get(&app.db, org), b.get(&app.db, org));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let rows = SigningKeyRow::list_all(&mut app.db.get().unwrap(), org).unwrap();
    assert_eq!(
        rows.len(),
        3,
        "one active key per algorithm, not one per node"
    );
    for alg in Alg::ALL {
        assert_eq!(ra.signer(alg).unwrap().kid, rb.signer(alg).unwrap().kid);
    }
}

async fn another_key_encryption_key_is_refused_at_start(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let mut env = app.env.clone();
    env.insert(
        "SESAME_KEY_ENCRYPTION_KEY".into(),
        "ZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmY=".into(),
    );
    for args in [vec!["serve"], vec!["keys", "rotate", "--org", "default"]] {
        let out = crate::helpers::cli(&env, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("not the one this database was set up with"),
            "{}",
            stderr(&out)
        );
    }
}

async fn a_rotation_shows_once_the_cache_expires(backend: Backend) {
    let test_db = crate::helpers::TestDb::new(&backend);
    let mut env = crate::helpers::test_env(&test_db.url, test_db.dir.path());
    env.insert("SESAME_KEY_CACHE_SECONDS".into(), "2".into());
    let app = TestApp::spawn_with(test_db, env).await;
    app.import(ES_AND_ED_APPS);
    let before = app.jwks("default").await;
    let out = app.cli(&["keys", "rotate", "--org", "default", "--alg", "EdDSA"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        app.jwks("default").await,
        before,
        "served from the cache meanwhile"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        kids(&app.jwks("default").await, "EdDSA").len(),
        2,
        "the new key shows after the TTL"
    );
}

async fn a_rotated_in_key_is_published_before_it_signs(backend: Backend) {
    use diesel::prelude::*;
    use sesame::store::schema::signing_keys;
    let app = TestApp::spawn(&backend).await;
    let before = app.jwks("default").await;
    let old = kids(&before, "RS256").remove(0);
    let out = app.cli(&["keys", "rotate", "--org", "default", "--alg", "RS256"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("starts signing at"),
        "{}",
        stdout(&out)
    );
    let staged = kids(&app.jwks("default").await, "RS256");
    assert_eq!(staged.len(), 2, "the new key is published at once");
    let new = staged.iter().find(|k| **k != old).unwrap().clone();
    let org = org_id(&app, "default");
    let store = KeyStore::new(Kek::new(parse_key(TEST_KEK).unwrap()), Duration::ZERO);
    assert_eq!(
        store
            .get(&app.db, org)
            .await
            .unwrap()
            .signer(Alg::RS256)
            .unwrap()
            .kid,
        old,
        "but does not sign yet"
    );

    // Its time comes: the next load promotes it and demotes the old key to published.
    diesel::update(signing_keys::table.filter(signing_keys::kid.eq(&new)))
        .set(signing_keys::activate_at.eq(Some(sesame::store::now() - 1)))
        .execute(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(
        store
            .get(&app.db, org)
            .await
            .unwrap()
            .signer(Alg::RS256)
            .unwrap()
            .kid,
        new
    );
    let rows = SigningKeyRow::list_all(&mut app.db.get().unwrap(), org).unwrap();
    let state = |kid: &str| rows.iter().find(|r| r.kid == kid).unwrap().state.clone();
    assert_eq!(
        (state(&new).as_str(), state(&old).as_str()),
        ("active", "published")
    );
}

both_backends!(
    a_rotated_in_key_is_published_before_it_signs,
    another_key_encryption_key_is_refused_at_start,
    a_rotation_shows_once_the_cache_expires,
    first_use_creates_one_key_per_algorithm_with_thumbprint_kids,
    rotation_keeps_the_old_key_published_until_retired,
    private_keys_are_encrypted_at_rest,
    two_nodes_creating_first_keys_at_once_agree,
);
