//! `sesame backup` and a restore drill: data made on a running server, backed up while it runs,
//! restored into a fresh server that must serve the same keys, sign the same user in with a backup
//! code made before the backup, and refuse another key-encryption key.

use std::collections::HashMap;

use serde_json::Value;

use crate::helpers::{
    Backend, Browser, TEST_KEK, TestApp, TestDb, cli, location, payload, stderr, stdout, test_env,
};
use crate::sms_otp::{BOB_PASSWORD, MFA_CB, SECRET, code_at, get, password_step, post_form};

fn kids(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    kids.sort();
    kids
}

/// Password, then a backup code, as bob for mfa-web; returns the ID token's header kid and claims.
async fn sign_in_with_backup_code(app: &TestApp, code: &str) -> (String, Value) {
    let browser = Browser::default();
    let res = password_step(app, &browser, "mfa-web", "bob", BOB_PASSWORD).await;
    assert_eq!(res.status(), 303);
    let otp_url = location(&res);
    assert!(
        otp_url.contains("/otp?tx="),
        "the OTP step follows: {otp_url}"
    );
    let backup_url = otp_url.replace("/otp?", "/backup-code?");
    let (status, html) = get(&browser, &backup_url).await;
    assert_eq!(status, 200);
    let res = post_form(&browser, &backup_url, &html, &[("code", code)]).await;
    let code = code_at(&res, MFA_CB);
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("mfa-web", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", MFA_CB),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let id_token = body["id_token"].as_str().unwrap();
    let header = {
        use base64::Engine;
        let part = id_token.split('.').next().unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };
    (
        header["kid"].as_str().unwrap().to_string(),
        payload(id_token),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restores_users_keys_and_codes_with_the_same_key_only() {
    let app = crate::sms_otp::setup_default(&Backend::Sqlite).await;
    let out = app.cli(&["backup-codes", "--org", "acme", "--user", "bob"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let codes: Vec<String> = stdout(&out)
        .lines()
        .skip(1)
        .map(|l| l.trim().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    // A sign-in before the backup: the keys exist and one code is spent.
    let (kid, _) = sign_in_with_backup_code(&app, &codes[0]).await;
    let kids_before = kids(&app.jwks("acme").await);
    assert!(kids_before.contains(&kid));

    // Backed up while the server runs.
    let backup = app.test_db.dir.path().join("backup.db");
    let out = app.cli(&["backup", "--to", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("integrity ok"), "{text}");
    assert!(
        text.contains("2 organization(s), 3 user(s)"),
        "default and acme; bob, carol, mallory: {text}"
    );
    assert!(
        text.contains("the key-encryption key (the configured key (SESAME_KEY_ENCRYPTION_KEY"),
        "{text}"
    );
    assert!(text.contains("opens this backup"), "{text}");
    assert!(
        text.contains("Keep the key-encryption key with your backups"),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Never over an existing file.
    let out = app.cli(&["backup", "--to", backup.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));

    // After the backup: a rotation and another spent code, which the backup does not have.
    let out = app.cli(&["keys", "rotate", "--org", "acme", "--alg", "RS256", "--now"]);
    assert!(out.status.success(), "{}", stderr(&out));
    sign_in_with_backup_code(&app, &codes[1]).await;
    assert_ne!(kids(&app.jwks("acme").await), kids_before);

    // Restore: the backup file becomes a fresh server's database, with the same key.
    let restored_db = TestDb::new(&Backend::Sqlite);
    let restored_path = restored_db.dir.path().join("sesame.db");
    assert!(restored_db.url.ends_with("/sesame.db"));
    std::fs::copy(&backup, &restored_path).unwrap();
    let env = test_env(&restored_db.url, restored_db.dir.path());

    // With another key-encryption key the restored database is refused, clearly.
    let mut other = env.clone();
    other.insert(
        "SESAME_KEY_ENCRYPTION_KEY".into(),
        "//////////////////////////////////////////8=".into(),
    );
    assert_ne!(other["SESAME_KEY_ENCRYPTION_KEY"], TEST_KEK);
    let out = cli(&other, &["serve"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not the one this database was set up with"),
        "{}",
        stderr(&out)
    );
    let other_backup = restored_db.dir.path().join("other.db");
    let out = cli(&other, &["backup", "--to", other_backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does NOT open this backup"),
        "{}",
        stderr(&out)
    );

    let restored = TestApp::spawn_with(restored_db, env).await;
    let (status, discovery) = restored.discovery("acme").await;
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], restored.issuer("acme"));
    assert_eq!(
        kids(&restored.jwks("acme").await),
        kids_before,
        "the keys as they were at the backup"
    );
    // The code spent after the backup works again (the backup predates it); the restored keys
    // sign, and the ID token's kid is the old key's.
    let (kid_after, claims) = sign_in_with_backup_code(&restored, &codes[1]).await;
    assert!(kids_before.contains(&kid_after), "{kid_after}");
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["iss"], restored.issuer("acme"));
    // The code spent before the backup stays spent.
    let browser = Browser::default();
    let res = password_step(&restored, &browser, "mfa-web", "bob", BOB_PASSWORD).await;
    let backup_url = location(&res).replace("/otp?", "/backup-code?");
    let (_, html) = get(&browser, &backup_url).await;
    let res = post_form(&browser, &backup_url, &html, &[("code", &codes[0])]).await;
    assert_eq!(res.status(), 422);
}

#[test]
fn postgres_is_refused_with_pg_dump_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("backup.db");
    let env = HashMap::from([
        (
            "DATABASE_URL".to_string(),
            "postgres://sesame:hunter2secret@127.0.0.1:1/idp".to_string(),
        ),
        (
            "SESAME_KEY_ENCRYPTION_KEY".to_string(),
            TEST_KEK.to_string(),
        ),
    ]);
    let out = cli(&env, &["backup", "--to", to.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("pg_dump") && err.contains("key-encryption key"),
        "{err}"
    );
    assert!(!err.contains("hunter2secret"), "{err}");
    assert!(!to.exists());
}

#[test]
fn a_missing_database_is_not_created_by_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nothing-here.db");
    let to = dir.path().join("backup.db");
    let env = HashMap::from([(
        "DATABASE_URL".to_string(),
        format!("sqlite://{}", db.display()),
    )]);
    let out = cli(&env, &["backup", "--to", to.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no SQLite database"),
        "{}",
        stderr(&out)
    );
    assert!(!db.exists() && !to.exists());
}
