//! Credentials set through the management API and the console: `{"value": "…"}` is sealed
//! under the server's key-encryption key, stored sealed, never shown, used by the gateway, and
//! a sealed credential cannot be moved to another address or written in a file.

use super::settings::patch_acme;
use super::*;
use crate::gateways::Provider;

const TOKEN: &str = "bearer-credential-5f3a9c";

/// acme's settings as stored, serialized.
async fn stored_settings(app: &TestApp) -> Value {
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = db.get().unwrap();
        let org = sesame::store::organizations::Organization::find_by_slug(&mut conn, "acme")
            .unwrap()
            .expect("acme");
        serde_json::to_value(&org.settings).unwrap()
    })
    .await
    .unwrap()
}

async fn credentials_are_sealed_used_and_never_shown(backend: Backend) {
    let (provider, base) = Provider::start().await;
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let gateway = |url: String, token: Value| {
        json!({"settings": {"sms": {"channel": "gateways", "gateways": [{
            "type": "http",
            "url": url,
            "body_template": "{\"to\":\"{to}\",\"text\":\"{message}\"}",
            "auth": {"bearer": {"token": token}},
        }]}}})
    };
    let a = patch_acme(
        &app,
        &admin,
        gateway(format!("{base}/send"), json!({"value": TOKEN})),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(!a.body.to_string().contains(TOKEN), "{}", a.body);
    assert_eq!(
        a.body["settings"]["sms"]["gateways"][0]["auth"]["bearer"]["token"],
        "[redacted]"
    );
    // Stored sealed: not the value, and nothing a reader of the database could use.
    let stored = stored_settings(&app).await;
    let sealed = stored["sms"]["gateways"][0]["auth"]["bearer"]["token"].clone();
    assert!(
        sealed["sealed"].as_str().is_some_and(|s| s.len() > 40),
        "{stored}"
    );
    assert!(!stored.to_string().contains(TOKEN), "{stored}");
    let log = audit(&app).await;
    assert!(!serde_json::to_string(&log).unwrap().contains(TOKEN));

    // The gateway sends it.
    let path = "/organizations/acme/sms/test-message";
    let to = json!({"phone_number": "+44 7400 900123"});
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        path,
        Some(to.clone()),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let got = provider.received();
    let sent = got.last().expect("the gateway got the message");
    assert_eq!(
        sent.headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {TOKEN}").as_str())
    );

    // Sent back as read, it stays; the gateway still sends it.
    let read = call(
        &app,
        Some(&admin),
        Method::GET,
        "/organizations/acme",
        None,
        None,
    )
    .await;
    let sms = read.body["settings"]["sms"].clone();
    let a = patch_acme(&app, &admin, json!({"settings": {"sms": sms}})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        stored_settings(&app).await["sms"]["gateways"][0]["auth"]["bearer"]["token"],
        sealed,
        "kept as it was"
    );

    // Copied as stored to a gateway with another address, it is refused; so is one sealed
    // elsewhere (or made up), also beside a null value.
    for (url, token) in [
        (
            "https://collector.example/steal".to_string(),
            sealed.clone(),
        ),
        (
            format!("{base}/send"),
            json!({"sealed": "0123456789ab.AAAA"}),
        ),
        (
            "https://collector.example/steal".to_string(),
            json!({"value": null, "sealed": sealed["sealed"]}),
        ),
    ] {
        let a = patch_acme(&app, &admin, gateway(url, token)).await;
        assert_eq!(a.status, 400, "{}", a.body);
        assert_eq!(
            a.body["errors"][0]["field"], "settings.sms.gateways[0].auth.bearer.token",
            "{}",
            a.body
        );
        assert!(
            a.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("{\"value\""),
            "{}",
            a.body
        );
    }

    // The same address, another field: refused too.
    let moved = json!({"settings": {"sms": {"channel": "gateways", "gateways": [{
        "type": "http",
        "url": format!("{base}/send"),
        "body_template": "{\"to\":\"{to}\",\"text\":\"{message}\"}",
        "auth": {"basic": {"username": "u", "password": sealed.clone()}},
    }]}}});
    let a = patch_acme(&app, &admin, moved).await;
    assert_eq!(
        (a.status, a.body["errors"][0]["field"].as_str()),
        (400, Some("settings.sms.gateways[0].auth.basic.password")),
        "{}",
        a.body
    );
    // The server's environment stays out of reach, also named beside a null value.
    for token in [
        json!({"value": null, "env": "SESAME_KEY_ENCRYPTION_KEY"}),
        json!({"env": "SESAME_KEY_ENCRYPTION_KEY", "value": "x"}),
    ] {
        let a = patch_acme(
            &app,
            &admin,
            gateway("https://collector.example/steal".into(), token.clone()),
        )
        .await;
        assert_eq!(
            (a.status, a.body["errors"][0]["field"].as_str()),
            (400, Some("settings.sms.gateways[0].auth.bearer.token")),
            "{token}: {}",
            a.body
        );
    }
    // A new value replaces it whole, and a value is given once, not beside a reference.
    let a = patch_acme(
        &app,
        &admin,
        gateway(
            format!("{base}/send"),
            json!({"value": "second-credential"}),
        ),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = call(&app, Some(&admin), Method::POST, path, Some(to), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        provider.received().last().unwrap().headers["authorization"],
        "Bearer second-credential"
    );
    // (A gateway's fields are read after its type, so the error names the section.)
    for (token, says) in [
        (json!({"value": ""}), "cannot be empty"),
        (json!({"value": 7}), "invalid type"),
    ] {
        let a = patch_acme(&app, &admin, gateway(format!("{base}/send"), token.clone())).await;
        assert_eq!(
            (a.status, a.body["errors"][0]["field"].as_str()),
            (400, Some("settings.sms")),
            "{token}: {}",
            a.body
        );
        assert!(
            a.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{}",
            a.body
        );
    }

    // An upstream provider's client secret, the same way.
    let a = patch_acme(
        &app,
        &admin,
        json!({"settings": {"identity_providers": [{
            "name": "corp",
            "discovery_url": "https://login.corp.example",
            "client_id": "acme-sesame",
            "client_secret": {"value": "upstream-secret-77"},
        }]}}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["settings"]["identity_providers"][0]["client_secret"],
        "[redacted]"
    );
    let stored = stored_settings(&app).await;
    assert!(
        stored["identity_providers"][0]["client_secret"]["sealed"].is_string(),
        "{stored}"
    );
    assert!(!stored.to_string().contains("upstream-secret-77"));

    // A provisioning file names variables and files: a value there is refused, with the reason.
    let path = app.write_file(
        "values.toml",
        &setup_file(
            &app,
            "\n[organizations.sms]\nchannel = \"gateways\"\n[[organizations.sms.gateways]]\n\
             type = \"twilio\"\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\n\
             auth_token = { value = \"in-the-file\" }\nfrom = \"+15005550006\"\n",
        ),
    );
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("name an environment variable or a file"),
        "{}",
        stderr(&out)
    );
}

both_backends!(credentials_are_sealed_used_and_never_shown);
