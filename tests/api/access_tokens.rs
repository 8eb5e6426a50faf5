//! Access tokens without a row each: what they stand on (a grant, or a client) is checked when
//! they are presented, so every way of revoking still ends them at UserInfo and introspection;
//! and the algorithm each application signs them with, verified against the published key set
//! by an independent library.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use diesel::prelude::*;
use openidconnect::JsonWebKey;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use serde_json::{Value, json};
use sesame::store::schema::{access_tokens, applications, grants, revoked_access_tokens};

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, acme_toml, location, payload, query_of, stderr};

const WEB_SECRET: &str = "an-acme-client-secret-of-forty-characters";
const WEB_CB: &str = "https://app.acme.example/callback";
const AFTER: &str = "https://app.acme.example/bye";
const SVC: (&str, &str) = ("acme-svc", "a-service-secret-that-is-long-enough-1234");
const WEB: (&str, &str) = ("acme-web", WEB_SECRET);

/// The acme file with acme-web's and a service's access tokens signed with `alg`.
fn acme_with(alg: &str) -> String {
    acme_toml().replace(
        "name = \"Acme Web\"\n",
        &format!(
            "name = \"Acme Web\"\naccess_token_signed_response_alg = \"{alg}\"\n\
             post_logout_redirect_uris = [\"{AFTER}\"]\n",
        ),
    ) + &format!(
        "\n[[organizations.applications]]\nclient_id = \"{}\"\ntype = \"confidential\"\n\
         client_secret = \"{}\"\ngrant_types = [\"client_credentials\"]\n\
         access_token_signed_response_alg = \"{alg}\"\n",
        SVC.0, SVC.1
    )
}

async fn setup(backend: &Backend, alg: &str) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.import(&acme_with(alg));
    app
}

fn auth_url(app: &TestApp, scope: &str) -> String {
    let mut url = url::Url::parse(&format!("{}/authorize", app.issuer("acme"))).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "acme-web")
        .append_pair("redirect_uri", WEB_CB)
        .append_pair("response_type", "code")
        .append_pair("scope", scope);
    url.to_string()
}

/// A client's POST to one of the issuer's endpoints (client_secret_basic).
async fn post_as(
    app: &TestApp,
    endpoint: &str,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/{endpoint}", app.issuer("acme")))
        .basic_auth(client.0, Some(client.1))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body)
}

/// Signs bob in (or reuses the browser's session) and exchanges the code: the token response.
async fn user_tokens(app: &TestApp, browser: &Browser, scope: &str) -> Value {
    let res = browser
        .authorize_and_sign_in(&auth_url(app, scope), "bob", "bobs-long-password")
        .await;
    let code = query_of(&location(&res))["code"].clone();
    let (status, tokens) = post_as(
        app,
        "token",
        WEB,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WEB_CB),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

async fn service_token(app: &TestApp) -> String {
    let (status, tokens) =
        post_as(app, "token", SVC, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_string()
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    let (status, body) = post_as(app, "introspect", WEB, &[("token", token)]).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Asserts that `token` works nowhere any more: UserInfo refuses it, introspection calls it
/// inactive.
async fn assert_ended(app: &TestApp, token: &str, why: &str) {
    assert_eq!(app.userinfo_status(token).await, 401, "{why}: UserInfo");
    assert_eq!(
        introspect(app, token).await,
        json!({ "active": false }),
        "{why}: introspection"
    );
}

fn header(jwt: &str) -> Value {
    serde_json::from_slice(&B64URL.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap()
}

/// Checks `token` against the organization's published key set with the `openidconnect` crate
/// (not Sesame's code), as a resource server would: the key its `kid` names is published for
/// `alg`, and the signature verifies with it.
async fn verify_with_published_keys(app: &TestApp, token: &str, alg: &str) {
    let header = header(token);
    assert_eq!(header["typ"], "at+jwt", "{header}");
    assert_eq!(header["alg"], alg, "{header}");
    let jwks = app.jwks("acme").await;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap_or_else(|| panic!("the kid {} is not published: {jwks}", header["kid"]));
    assert_eq!(jwk["alg"], alg);
    let key: CoreJsonWebKey = serde_json::from_value(jwk.clone()).unwrap();
    let signature_alg = match alg {
        "RS256" => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        "ES256" => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        "EdDSA" => CoreJwsSigningAlgorithm::EdDsa,
        other => panic!("unexpected alg {other}"),
    };
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    key.verify_signature(
        &signature_alg,
        signing_input.as_bytes(),
        &B64URL.decode(signature).unwrap(),
    )
    .unwrap_or_else(|e| panic!("an {alg} access token verifies with the published key: {e:?}"));
}

fn count(app: &TestApp, table: &str) -> i64 {
    let mut conn = app.db.get().unwrap();
    let conn = &mut *conn;
    match table {
        "access_tokens" => access_tokens::table.count().get_result(conn),
        "grants" => grants::table.count().get_result(conn),
        "revoked_access_tokens" => revoked_access_tokens::table.count().get_result(conn),
        other => panic!("no table {other}"),
    }
    .unwrap()
}

async fn each_access_token_algorithm_verifies_against_the_published_keys(backend: Backend) {
    let app = setup(&backend, "RS256").await;
    let browser = Browser::default();
    let mut earlier = Vec::new();
    for alg in ["RS256", "ES256", "EdDSA"] {
        app.import(&acme_with(alg));
        let jwks = app.jwks("acme").await;
        assert!(
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["alg"] == alg),
            "the key of an algorithm in use for access tokens is published: {jwks}"
        );

        // Authorization code: the access token is the application's choice, the ID token keeps
        // its own (RS256 here).
        let tokens = user_tokens(&app, &browser, "openid email").await;
        let access = tokens["access_token"].as_str().unwrap();
        verify_with_published_keys(&app, access, alg).await;
        assert_eq!(header(tokens["id_token"].as_str().unwrap())["alg"], "RS256");
        let res = app
            .client
            .get(format!("{}/userinfo", app.issuer("acme")))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{alg}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["email"],
            "bob@acme.example"
        );
        let info = introspect(&app, access).await;
        assert_eq!(info["active"], true, "{alg}: {info}");
        assert_eq!(info["client_id"], "acme-web");

        // Client credentials.
        let service = service_token(&app).await;
        verify_with_published_keys(&app, &service, alg).await;
        let info = introspect(&app, &service).await;
        assert_eq!(
            (info["active"].as_bool(), info["sub"].as_str()),
            (Some(true), Some("acme-svc")),
            "{alg}: {info}"
        );
        assert_eq!(
            app.userinfo_status(&service).await,
            401,
            "a service token is not for a user"
        );
        earlier.push((alg, access.to_string(), service));
    }
    // Tokens signed before a switch still work at Sesame. Their key stays in the key set while
    // an application uses its algorithm (RS256 always); ES256's left it with its last user.
    for (alg, access, service) in &earlier {
        assert_eq!(app.userinfo_status(access).await, 200, "{alg}");
        assert_eq!(introspect(&app, service).await["active"], true, "{alg}");
        if *alg != "ES256" {
            verify_with_published_keys(&app, access, alg).await;
        }
    }
    let jwks = app.jwks("acme").await;
    let published: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(published, ["RS256", "EdDSA"], "{jwks}");
    let bad = acme_with("HS256");
    let out = app.cli(&["import", app.write_file("bad.toml", &bad).to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "(acme-web).access_token_signed_response_alg: 'HS256' is not a signing algorithm"
        ),
        "{}",
        stderr(&out)
    );
}

async fn issuing_an_access_token_writes_no_row(backend: Backend) {
    let app = setup(&backend, "ES256").await;
    let browser = Browser::default();
    user_tokens(&app, &browser, "openid").await;
    let grants_before = count(&app, "grants");
    for _ in 0..3 {
        service_token(&app).await;
    }
    let tokens = user_tokens(&app, &browser, "openid").await;
    assert_eq!(
        count(&app, "access_tokens"),
        0,
        "no access token is recorded"
    );
    assert_eq!(
        count(&app, "grants"),
        grants_before + 1,
        "client credentials make no grant; the code's sign-in made one"
    );
    let claims = payload(tokens["access_token"].as_str().unwrap());
    assert!(claims["grant_id"].is_string(), "{claims}");
    assert!(claims.get("gty").is_none(), "{claims}");
    let service = payload(&service_token(&app).await);
    assert_eq!(service["gty"], "client_credentials", "{service}");
    assert!(service.get("grant_id").is_none(), "{service}");
}

async fn revoking_a_service_token_ends_it_alone(backend: Backend) {
    let app = setup(&backend, "RS256").await;
    let (one, two) = (service_token(&app).await, service_token(&app).await);
    // Another client cannot revoke it (RFC 7009 §2.1: 200 all the same).
    let (status, _) = post_as(&app, "revoke", WEB, &[("token", &one)]).await;
    assert_eq!(status, 200);
    assert_eq!(introspect(&app, &one).await["active"], true);
    let (status, _) = post_as(&app, "revoke", SVC, &[("token", &one)]).await;
    assert_eq!(status, 200);
    assert_eq!(introspect(&app, &one).await, json!({ "active": false }));
    assert_eq!(introspect(&app, &two).await["active"], true, "others stay");
    assert_eq!(count(&app, "revoked_access_tokens"), 1);
    // Revoking again changes nothing.
    let (status, _) = post_as(&app, "revoke", SVC, &[("token", &one)]).await;
    assert_eq!(status, 200);
    assert_eq!(count(&app, "revoked_access_tokens"), 1);
    assert_eq!(introspect(&app, &one).await, json!({ "active": false }));
}

async fn a_service_token_ends_with_its_application(backend: Backend) {
    let app = setup(&backend, "RS256").await;
    let token = service_token(&app).await;
    assert_eq!(introspect(&app, &token).await["active"], true);
    diesel::delete(applications::table.filter(applications::client_id.eq("acme-svc")))
        .execute(&mut *app.db.get().unwrap())
        .unwrap();
    assert_eq!(introspect(&app, &token).await, json!({ "active": false }));
}

async fn every_revocation_ends_access_tokens_at_userinfo_and_introspection(backend: Backend) {
    let app = setup(&backend, "ES256").await;
    let browser = Browser::default();

    // Revoking the access token itself (RFC 7009).
    let tokens = user_tokens(&app, &browser, "openid email").await;
    let access = tokens["access_token"].as_str().unwrap();
    let (status, _) = post_as(&app, "revoke", WEB, &[("token", access)]).await;
    assert_eq!(status, 200);
    assert_ended(&app, access, "a revoked access token").await;

    // Revoking its refresh token ends its grant.
    let tokens = user_tokens(&app, &browser, "openid email").await;
    let (status, _) = post_as(
        &app,
        "revoke",
        WEB,
        &[("token", tokens["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, 200);
    assert_ended(
        &app,
        tokens["access_token"].as_str().unwrap(),
        "a revoked refresh token's grant",
    )
    .await;

    // A refresh token used twice revokes its family, the access tokens included.
    let tokens = user_tokens(&app, &browser, "openid email").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh)];
    let (status, refreshed) = post_as(&app, "token", WEB, &form).await;
    assert_eq!(status, 200, "{refreshed}");
    let newer = refreshed["access_token"].as_str().unwrap();
    assert_eq!(app.userinfo_status(newer).await, 200);
    let (status, _) = post_as(&app, "token", WEB, &form).await;
    assert_eq!(status, 400);
    assert_ended(&app, newer, "a reused refresh token's family").await;
    assert_ended(
        &app,
        tokens["access_token"].as_str().unwrap(),
        "a reused refresh token's family",
    )
    .await;

    // A code used twice.
    let res = browser
        .authorize_and_sign_in(&auth_url(&app, "openid email"), "bob", "bobs-long-password")
        .await;
    let code = query_of(&location(&res))["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_CB),
    ];
    let (status, tokens) = post_as(&app, "token", WEB, &form).await;
    assert_eq!(status, 200);
    let (status, _) = post_as(&app, "token", WEB, &form).await;
    assert_eq!(status, 400);
    assert_ended(
        &app,
        tokens["access_token"].as_str().unwrap(),
        "a reused code's tokens",
    )
    .await;

    // Logout ends the session's grants (offline access excepted, by design).
    let tokens = user_tokens(&app, &browser, "openid email").await;
    let offline = user_tokens(&app, &browser, "openid offline_access").await;
    let url = format!(
        "{}/logout?id_token_hint={}&post_logout_redirect_uri={}",
        app.issuer("acme"),
        tokens["id_token"].as_str().unwrap(),
        url::form_urlencoded::byte_serialize(AFTER.as_bytes()).collect::<String>()
    );
    let res = browser.client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_ended(
        &app,
        tokens["access_token"].as_str().unwrap(),
        "a signed-out session's tokens",
    )
    .await;
    let offline_access = offline["access_token"].as_str().unwrap();
    assert_eq!(introspect(&app, offline_access).await["active"], true);

    // A password change ends everything issued to the user, offline access too.
    let fresh = Browser::default();
    let tokens = user_tokens(&app, &fresh, "openid email").await;
    let changed = acme_with("ES256").replace("bobs-long-password", "bobs-brand-new-password");
    app.import(&changed);
    assert_ended(
        &app,
        tokens["access_token"].as_str().unwrap(),
        "tokens from before a password change",
    )
    .await;
    assert_ended(
        &app,
        offline_access,
        "offline access after a password change",
    )
    .await;

    // Disabling the user.
    let fresh = Browser::default();
    let res = fresh
        .authorize_and_sign_in(
            &auth_url(&app, "openid email"),
            "bob",
            "bobs-brand-new-password",
        )
        .await;
    let code = query_of(&location(&res))["code"].clone();
    let (status, tokens) = post_as(
        &app,
        "token",
        WEB,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WEB_CB),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspect(&app, access).await["active"], true);
    app.import(&changed.replace(
        "email_verified = true\n",
        "email_verified = true\ndisabled = true\n",
    ));
    assert_ended(&app, access, "a disabled user's tokens").await;
}

async fn a_rotated_key_keeps_its_tokens_until_retired(backend: Backend) {
    let app = setup(&backend, "ES256").await;
    let browser = Browser::default();
    let before = user_tokens(&app, &browser, "openid").await;
    let old = before["access_token"].as_str().unwrap();
    let old_kid = header(old)["kid"].as_str().unwrap().to_string();
    let out = app.cli(&["keys", "rotate", "--org", "acme", "--alg", "ES256", "--now"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = user_tokens(&app, &browser, "openid").await;
    let new = after["access_token"].as_str().unwrap();
    assert_ne!(header(new)["kid"], old_kid.as_str(), "the new key signs");
    verify_with_published_keys(&app, new, "ES256").await;
    verify_with_published_keys(&app, old, "ES256").await;
    assert_eq!(
        app.userinfo_status(old).await,
        200,
        "the old key still verifies"
    );
    assert_eq!(introspect(&app, old).await["active"], true);
    let out = app.cli(&["keys", "retire", "--org", "acme", "--kid", &old_kid]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ended(&app, old, "a token of a retired key").await;
    assert_eq!(app.userinfo_status(new).await, 200);
}

/// A token as Sesame signed them before access tokens stopped being recorded: no `grant_id`,
/// no `gty`, and a row in `access_tokens` under its grant.
async fn recorded_token(app: &TestApp, grant_id: &str, sub: &str, row: bool) -> String {
    use sesame::keys::Alg;
    let org = sesame::store::organizations::Organization::find_by_slug(
        &mut app.db.get().unwrap(),
        "acme",
    )
    .unwrap()
    .unwrap();
    let keys = app.state.keys.get(&app.db, org.id).await.unwrap();
    let now = sesame::store::now();
    let jti = uuid::Uuid::new_v4().to_string();
    let issuer = app.issuer("acme");
    let claims = json!({
        "iss": issuer,
        "sub": sub,
        "aud": format!("{issuer}/userinfo"),
        "client_id": "acme-web",
        "scope": "openid email",
        "jti": jti,
        "iat": now,
        "exp": now + 300,
    });
    let token = keys
        .signer(Alg::RS256)
        .unwrap()
        .sign_compact("at+jwt", claims.to_string().as_bytes())
        .unwrap();
    if row {
        diesel::insert_into(access_tokens::table)
            .values((
                access_tokens::jti.eq(&jti),
                access_tokens::grant_id.eq(grant_id),
                access_tokens::expires_at.eq(now + 300),
            ))
            .execute(&mut *app.db.get().unwrap())
            .unwrap();
    }
    token
}

async fn tokens_recorded_before_the_upgrade_work_until_revoked(backend: Backend) {
    let app = setup(&backend, "RS256").await;
    let browser = Browser::default();
    let tokens = user_tokens(&app, &browser, "openid email").await;
    let claims = payload(tokens["access_token"].as_str().unwrap());
    let (grant_id, sub) = (
        claims["grant_id"].as_str().unwrap(),
        claims["sub"].as_str().unwrap(),
    );
    let recorded = recorded_token(&app, grant_id, sub, true).await;
    assert_eq!(app.userinfo_status(&recorded).await, 200);
    assert_eq!(introspect(&app, &recorded).await["active"], true);
    let unrecorded = recorded_token(&app, grant_id, sub, false).await;
    assert_ended(&app, &unrecorded, "an old-style token without its row").await;
    let (status, _) = post_as(&app, "revoke", WEB, &[("token", &recorded)]).await;
    assert_eq!(status, 200);
    assert_ended(&app, &recorded, "a revoked old-style token").await;
    // Revoking the grant ends the old-style tokens too.
    let other = recorded_token(&app, grant_id, sub, true).await;
    assert_eq!(app.userinfo_status(&other).await, 200);
    let (status, _) = post_as(
        &app,
        "revoke",
        WEB,
        &[("token", tokens["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, 200);
    assert_ended(&app, &other, "an old-style token of a revoked grant").await;
}

both_backends!(
    each_access_token_algorithm_verifies_against_the_published_keys,
    issuing_an_access_token_writes_no_row,
    revoking_a_service_token_ends_it_alone,
    a_service_token_ends_with_its_application,
    every_revocation_ends_access_tokens_at_userinfo_and_introspection,
    a_rotated_key_keeps_its_tokens_until_retired,
    tokens_recorded_before_the_upgrade_work_until_revoked,
);

/// A code or refresh token is spent only while its grant is live, read again by the spending
/// statement itself: a revocation committed after the token endpoint found the credential (a
/// reused refresh token, a sign-out, in another request) still stops the exchange.
async fn a_revoked_grant_cannot_spend_its_code_or_refresh_token(backend: Backend) {
    use sesame::secret::sha256_hex;
    use sesame::store::auth::{AuthorizationCode, RefreshToken};
    let app = setup(&backend, "RS256").await;
    let browser = Browser::default();
    let tokens = user_tokens(&app, &browser, "openid offline_access").await;
    let refresh = sha256_hex(tokens["refresh_token"].as_str().expect("a refresh token"));
    // A second code of the same user, not exchanged.
    let res = browser
        .authorize_and_sign_in(&auth_url(&app, "openid"), "bob", "bobs-long-password")
        .await;
    let code = sha256_hex(&query_of(&location(&res))["code"]);
    let mut conn = app.db.get().unwrap();
    diesel::update(grants::table)
        .set(grants::revoked_at.eq(Some(1_i64)))
        .execute(&mut conn)
        .unwrap();
    assert!(!AuthorizationCode::consume(&mut conn, &code).unwrap());
    assert!(!RefreshToken::consume(&mut conn, &refresh).unwrap());
    // Live again, each is spent exactly once.
    diesel::update(grants::table)
        .set(grants::revoked_at.eq(None::<i64>))
        .execute(&mut conn)
        .unwrap();
    assert!(AuthorizationCode::consume(&mut conn, &code).unwrap());
    assert!(!AuthorizationCode::consume(&mut conn, &code).unwrap());
    assert!(RefreshToken::consume(&mut conn, &refresh).unwrap());
    assert!(!RefreshToken::consume(&mut conn, &refresh).unwrap());
}

both_backends!(a_revoked_grant_cannot_spend_its_code_or_refresh_token);
