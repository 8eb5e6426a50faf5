//! Organizations' settings and applications changed through the management API: merge
//! patches checked like a provisioning file (flows by the engine's rules), versions, write-only
//! secrets, the audit log, and what the next sign-in does.

use super::*;
use crate::gateways::Provider;
use crate::sms_otp::{get, last_code};

/// Patches acme as `token` with the ETag just read.
pub(super) async fn patch_acme(app: &TestApp, token: &str, patch: Value) -> Answer {
    let read = call(
        app,
        Some(token),
        Method::GET,
        "/organizations/acme",
        None,
        None,
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.body);
    call(
        app,
        Some(token),
        Method::PATCH,
        "/organizations/acme",
        Some(patch),
        read.etag.as_deref(),
    )
    .await
}

async fn sms_otp_settings_change_and_the_next_code_follows_them(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let read = call(
        &app,
        Some(&admin),
        Method::GET,
        "/organizations/acme",
        None,
        None,
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.body);
    let etag = read.etag.clone().expect("an ETag");
    let change = json!({"settings": {"sms_otp": {"length": 8}}});
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        "/organizations/acme",
        Some(change.clone()),
        None,
    )
    .await;
    assert_eq!(a.status, 428, "{}", a.body);
    for role in ["ops-viewer", "ops-support"] {
        let t = token(&app, role).await;
        let a = call(
            &app,
            Some(&t),
            Method::PATCH,
            "/organizations/acme",
            Some(change.clone()),
            Some(&etag),
        )
        .await;
        assert_eq!(a.status, 403, "{role}: {}", a.body);
    }
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        "/organizations/acme",
        Some(change.clone()),
        Some(&etag),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["settings"]["sms_otp"]["length"], 8);
    // The rest of the section and the other sections stay.
    assert_eq!(
        a.body["settings"]["sms_otp"]["resend_cooldown_seconds"],
        read.body["settings"]["sms_otp"]["resend_cooldown_seconds"]
    );
    assert_eq!(a.body["settings"]["lock_policy"]["max_attempts"], 3);
    assert_ne!(a.etag.as_deref(), Some(etag.as_str()));
    // The version read before is stale now.
    let again = call(
        &app,
        Some(&admin),
        Method::PATCH,
        "/organizations/acme",
        Some(json!({"display_name": "Acme"})),
        Some(&etag),
    )
    .await;
    assert_eq!(
        (again.status, again.body["type"].as_str()),
        (412, Some("urn:sesame:problem:stale-version"))
    );
    // The same change again changes nothing: same version, no audit entry.
    let entries = audit(&app).await.len();
    let same = patch_acme(&app, &admin, change).await;
    assert_eq!((same.status, &same.etag), (200, &a.etag));
    assert_eq!(audit(&app).await.len(), entries);

    // The next sign-in's code has eight digits.
    let browser = Browser::default();
    let res = password_step(&app, &browser, "mfa-web", "bob", BOB_PASSWORD).await;
    let otp_url = location(&res);
    assert!(otp_url.contains("/otp?tx="), "{otp_url}");
    let (status, _) = get(&browser, &otp_url).await;
    assert_eq!(status, 200);
    let code = last_code(&app);
    assert!(
        code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );

    let log = audit(&app).await;
    let entry = log
        .iter()
        .find(|e| e["action"] == "organization.update")
        .expect("the change audited");
    assert_eq!(entry["actor_name"], "ops-admin", "{entry}");
    let section = &entry["changes"]["settings.sms_otp"];
    assert_eq!(
        (&section["before"]["length"], &section["after"]["length"]),
        (&json!(6), &json!(8)),
        "{entry}"
    );
    assert_eq!(
        entry["changes"].as_object().unwrap().len(),
        1,
        "only the section that changed: {entry}"
    );
}

/// Branding through the API: checked like a file, served at once, audited by the image's hash.
async fn branding_is_set_through_the_api(backend: Backend) {
    use base64::Engine;
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let light = json!({ "settings": { "branding": { "primary_color": "#ffd700" } } });
    let refused = patch_acme(&app, &admin, light).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    let said = refused.body.to_string();
    assert!(
        said.contains("settings.branding") && said.contains("too light"),
        "{said}"
    );

    let svg = b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'/>";
    let data_url = format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    );
    let branding = json!({ "settings": { "branding": { "logo": data_url } } });
    let saved = patch_acme(&app, &admin, branding).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    let digest = sesame::secret::sha256_hex(svg);
    let res = app
        .client
        .get(format!(
            "{}/branding/logo?v={}",
            app.issuer("acme"),
            &digest[..16]
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    assert_eq!(headers["content-type"], "image/svg+xml");
    assert_eq!(headers["cache-control"], "public, max-age=86400");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("sandbox") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), svg);

    let log = audit(&app).await;
    let entry = log
        .iter()
        .find(|e| e["action"] == "organization.update")
        .expect("the change audited");
    let logo = &entry["changes"]["settings.branding"]["after"]["logo"];
    assert_eq!(logo, &json!(format!("sha256:{digest}")), "{entry}");
    assert!(!entry.to_string().contains("base64"), "{entry}");
}

async fn settings_are_checked_like_a_file(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    for (patch, field, words) in [
        (
            json!({"settings": {"sms_otp": {"length": 3}}}),
            "settings.sms_otp",
            "length",
        ),
        (
            json!({"settings": {"sms_otp": {"lenght": 8}}}),
            "settings.sms_otp",
            "lenght",
        ),
        (
            json!({"settings": {"sms_otp": {"message_templates": {"es": "sin código"}}}}),
            "settings.sms_otp",
            "message_templates.es: must contain {code}",
        ),
        (
            json!({"settings": {"branding": {"default_language": "fr"}}}),
            "settings.branding",
            "default_language: Sesame does not speak",
        ),
        (
            json!({"settings": {"resources": [{"identifier": "not a uri"}]}}),
            "settings.resources[0].identifier",
            "absolute URI",
        ),
        (json!({"slug": "acme2"}), "slug", "cannot be changed"),
        (json!({"display_name": " "}), "display_name", "characters"),
        (json!({"settings": null}), "settings", "cannot be removed"),
    ] {
        let a = patch_acme(&app, &admin, patch.clone()).await;
        assert_eq!(
            (a.status, a.media.as_str()),
            (400, "application/problem+json"),
            "{patch}: {}",
            a.body
        );
        let first = &a.body["errors"][0];
        assert!(
            first["field"].as_str().unwrap().starts_with(field)
                && first["message"].as_str().unwrap().contains(words),
            "{patch}: {}",
            a.body
        );
    }
    // A section set to null goes back to its defaults.
    let a = patch_acme(&app, &admin, json!({"settings": {"lock_policy": null}})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_ne!(a.body["settings"]["lock_policy"]["max_attempts"], 3);
    // The administration organization takes the system role.
    let a = call(
        &app,
        Some(&admin),
        Method::GET,
        "/organizations/admin",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let root = token(&app, "ops-root").await;
    let read = call(
        &app,
        Some(&root),
        Method::GET,
        "/organizations/admin",
        None,
        None,
    )
    .await;
    let a = call(
        &app,
        Some(&root),
        Method::PATCH,
        "/organizations/admin",
        Some(json!({"display_name": "Operations"})),
        read.etag.as_deref(),
    )
    .await;
    assert_eq!(
        (a.status, a.body["display_name"].as_str()),
        (200, Some("Operations")),
        "{}",
        a.body
    );
}

async fn gateway_secrets_stay_write_only(backend: Backend) {
    let (provider, base) = Provider::start().await;
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let gateway = json!({
        "type": "http",
        "url": format!("{base}/v1/messages?key=query-key-0123"),
        "headers": {"X-Api-Key": "header-key-4567"},
        "body_template": "{\"to\":\"{to}\",\"text\":\"{message}\",\"key\":\"body-key-89ab\"}",
    });
    let a = patch_acme(
        &app,
        &admin,
        json!({"settings": {"sms": {"channel": "gateways", "gateways": [gateway]}}}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let shown = a.body.to_string();
    for secret in ["query-key-0123", "header-key-4567", "body-key-89ab"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    let log = audit(&app).await;
    assert!(
        !serde_json::to_string(&log)
            .unwrap()
            .contains("header-key-4567")
    );
    // The section sent back as read, with one more header: the secrets it was not shown stay.
    let mut sms = a.body["settings"]["sms"].clone();
    sms["gateways"][0]["headers"]["X-Trace"] = json!("on");
    let a = patch_acme(&app, &admin, json!({"settings": {"sms": sms.clone()}})).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let browser = Browser::default();
    let res = password_step(&app, &browser, "mfa-web", "bob", BOB_PASSWORD).await;
    let (status, _) = get(&browser, &location(&res)).await;
    assert_eq!(status, 200);
    let got = provider.received();
    let sent = got.last().expect("the gateway got the code");
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(
        sent.headers.get("x-api-key").map(String::as_str),
        Some("header-key-4567")
    );
    assert_eq!(sent.headers.get("x-trace").map(String::as_str), Some("on"));
    assert!(sent.body.contains("body-key-89ab"), "{}", sent.body);
    // Sent elsewhere, a secret is not carried along: it must be given again.
    let mut moved = sms.clone();
    moved["gateways"][0]["url"] = json!("https://collector.example/steal");
    let a = patch_acme(&app, &admin, json!({"settings": {"sms": moved}})).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body["errors"][0]["field"]
            .as_str()
            .unwrap()
            .starts_with("settings.sms.gateways[0]"),
        "{}",
        a.body
    );
}

async fn applications_are_created_changed_and_deleted(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let viewer = token(&app, "ops-viewer").await;
    let new = json!({
        "client_id": "batch",
        "type": "confidential",
        "grant_types": ["client_credentials"],
    });
    let a = call(
        &app,
        Some(&viewer),
        Method::POST,
        "/organizations/acme/applications",
        Some(new.clone()),
        None,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        "/organizations/acme/applications",
        Some(new.clone()),
        None,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(a.etag.is_some());
    let secret = a.body["client_secret"]
        .as_str()
        .expect("a generated secret")
        .to_string();
    assert!(secret.len() >= 32);
    assert_eq!(a.body["has_secret"], true);
    let client_token = |secret: String| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/token", app.issuer("acme")))
                .basic_auth("batch", Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
        }
    };
    let res = client_token(secret.clone()).await;
    assert_eq!(res.status(), 200);
    let old_token = res.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        "/organizations/acme/applications",
        Some(new.clone()),
        None,
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.body);
    // Read back, the secret never shows.
    let a = call(
        &app,
        Some(&viewer),
        Method::GET,
        "/organizations/acme/applications/batch",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200);
    assert!(!a.body.to_string().contains(&secret));
    assert!(a.body.get("client_secret").is_none());

    // A new secret: the old one stops working at once.
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        "/organizations/acme/applications/batch/secret",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let renewed = a.body["client_secret"].as_str().unwrap().to_string();
    assert_ne!(renewed, secret);
    assert_eq!(client_token(secret.clone()).await.status(), 401);
    assert_eq!(client_token(renewed.clone()).await.status(), 200);

    // Deleted, and created again under the same client id: the old client's token is not the
    // new one's.
    let introspect = |token: String| {
        let app = &app;
        async move {
            let res = app
                .client
                .post(format!("{}/introspect", app.issuer("acme")))
                .basic_auth("mfa-web", Some(SECRET))
                .form(&[("token", token.as_str())])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()["active"]
                .as_bool()
                .unwrap()
        }
    };
    assert!(introspect(old_token.clone()).await, "live before");
    let a = call(
        &app,
        Some(&admin),
        Method::DELETE,
        "/organizations/acme/applications/batch",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert!(!introspect(old_token.clone()).await, "dead once deleted");
    assert_eq!(client_token(renewed).await.status(), 401);
    // Issued in an earlier second than the new application's creation.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        "/organizations/acme/applications",
        Some(new),
        None,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(!introspect(old_token).await, "not revived by a namesake");
    let actions: Vec<String> = audit(&app)
        .await
        .iter()
        .filter(|e| e["entity_id"] == "batch")
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        [
            "application.create",
            "application.delete",
            "application.new_secret",
            "application.create"
        ],
        "newest first"
    );
}

async fn adding_sms_otp_as_a_second_factor_makes_the_next_sign_in_ask_for_a_code(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let path = "/organizations/acme/applications/pwd-web";
    let read = call(&app, Some(&admin), Method::GET, path, None, None).await;
    assert_eq!(read.status, 200, "{}", read.body);
    // Nothing changed: same version.
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        path,
        Some(json!({})),
        read.etag.as_deref(),
    )
    .await;
    assert_eq!((a.status, &a.etag), (200, &read.etag), "{}", a.body);
    // The engine's rules and messages.
    for (patch, field, words) in [
        (
            json!({"sign_in_flow": [["sms_otp"]]}),
            "sign_in_flow",
            "cannot be the first step",
        ),
        (
            json!({"sign_in_flow": [["password"], ["sms_otp", "backup_code"]]}),
            "sign_in_flow",
            "backup",
        ),
        (
            json!({"sign_in_flow": "password_and_a_smile"}),
            "sign_in_flow",
            "is not a preset",
        ),
        (
            json!({"client_id": "pwd-web-2"}),
            "client_id",
            "cannot change",
        ),
        (json!({"has_secret": false}), "has_secret", "read-only"),
        (
            json!({"grant_types": ["implicit"]}),
            "grant_types[0]",
            "not a grant type",
        ),
    ] {
        let a = call(
            &app,
            Some(&admin),
            Method::PATCH,
            path,
            Some(patch.clone()),
            read.etag.as_deref(),
        )
        .await;
        assert_eq!(a.status, 400, "{patch}: {}", a.body);
        let first = &a.body["errors"][0];
        assert!(
            first["field"] == field && first["message"].as_str().unwrap().contains(words),
            "{patch}: {}",
            a.body
        );
    }
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        path,
        Some(json!({"sign_in_flow": "username_password_sms_otp", "backup_codes": true})),
        read.etag.as_deref(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["sign_in_flow"],
        json!([["password"], ["sms_otp", "backup_code"]])
    );
    assert!(a.body.get("client_secret").is_none(), "the secret stays");
    let browser = Browser::default();
    let res = password_step(&app, &browser, "pwd-web", "bob", BOB_PASSWORD).await;
    assert_eq!(res.status(), 303);
    let next = location(&res);
    assert!(next.contains("/otp?tx="), "a code is asked for now: {next}");
    // The secret was kept: the application still authenticates.
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("pwd-web", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("redirect_uri", PWD_CB),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["error"], "invalid_grant",
        "authenticated, then the code refused"
    );
    let entry = audit(&app)
        .await
        .into_iter()
        .find(|e| e["action"] == "application.update" && e["entity_id"] == "pwd-web")
        .expect("audited");
    assert_eq!(
        entry["changes"]["sign_in_flow"]["after"],
        json!([["password"], ["sms_otp", "backup_code"]]),
        "{entry}"
    );
}

async fn organizations_are_created_by_the_system_role(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let root = token(&app, "ops-root").await;
    let new =
        json!({"slug": "globex", "display_name": "Globex", "settings": {"sms_otp": {"length": 7}}});
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        "/organizations",
        Some(new.clone()),
        None,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = call(
        &app,
        Some(&root),
        Method::POST,
        "/organizations",
        Some(new.clone()),
        None,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["settings"]["sms_otp"]["length"], 7);
    let res = app
        .client
        .get(format!(
            "{}/.well-known/openid-configuration",
            app.issuer("globex")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the new organization's issuer answers");
    let a = call(
        &app,
        Some(&root),
        Method::POST,
        "/organizations",
        Some(new),
        None,
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.body);
    let a = call(
        &app,
        Some(&root),
        Method::POST,
        "/organizations",
        Some(json!({"slug": "Not A Slug"})),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.body["errors"][0]["field"].as_str()),
        (400, Some("slug"))
    );
}

both_backends!(
    branding_is_set_through_the_api,
    sms_otp_settings_change_and_the_next_code_follows_them,
    settings_are_checked_like_a_file,
    gateway_secrets_stay_write_only,
    applications_are_created_changed_and_deleted,
    adding_sms_otp_as_a_second_factor_makes_the_next_sign_in_ask_for_a_code,
    organizations_are_created_by_the_system_role,
);

async fn the_servers_files_and_environment_stay_out_of_reach(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let root = token(&app, "ops-root").await;
    let steal = |auth: Value| {
        json!({"settings": {"sms": {"channel": "gateways", "gateways": [{
            "type": "http",
            "url": "https://collector.example/x",
            "body_template": "{to} {message}",
            "auth": auth,
        }]}}})
    };
    for (patch, field) in [
        (
            steal(json!({"bearer": {"token": {"env": "SESAME_KEY_ENCRYPTION_KEY"}}})),
            "settings.sms.gateways[0].auth.bearer.token",
        ),
        (
            steal(json!({"bearer": {"token": {"file": "/etc/passwd"}}})),
            "settings.sms.gateways[0].auth.bearer.token",
        ),
        (
            json!({"settings": {"mail": {"transport": "file", "dir": "/tmp/anywhere"}}}),
            "settings.mail.dir",
        ),
    ] {
        let a = patch_acme(&app, &admin, patch.clone()).await;
        assert_eq!(a.status, 400, "{patch}: {}", a.body);
        assert_eq!(a.body["errors"][0]["field"], field, "{}", a.body);
        assert!(
            a.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("provisioning file"),
            "{}",
            a.body
        );
    }
    let a = call(
        &app,
        Some(&root),
        Method::POST,
        "/organizations",
        Some(
            json!({"slug": "initech", "settings": {"mail": {"transport": "file", "dir": "/tmp"}}}),
        ),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.body["errors"][0]["field"].as_str()),
        (400, Some("settings.mail.dir")),
        "{}",
        a.body
    );

    // A gateway whose credential the operator named in the file: sent back as read, it stays;
    // pointed elsewhere, the credential is not carried along.
    let token_file = app.write_file("twilio-token", "twilio-auth-token\n");
    let extra = format!(
        "\n[organizations.sms]\nchannel = \"gateways\"\n[[organizations.sms.gateways]]\ntype = \"twilio\"\n\
         account_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = {{ file = \"{}\" }}\n\
         from = \"+15005550006\"\nbase_url = \"https://api.twilio.com\"\n",
        token_file.display()
    );
    app.import(&setup_file(&app, &extra));
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
    assert_eq!(sms["gateways"][0]["auth_token"], "[redacted]", "{sms}");
    let a = patch_acme(&app, &admin, json!({"settings": {"sms": sms.clone()}})).await;
    assert_eq!(a.status, 200, "kept as it was: {}", a.body);
    let mut moved = sms;
    moved["gateways"][0]["base_url"] = json!("https://collector.example");
    let a = patch_acme(&app, &admin, json!({"settings": {"sms": moved}})).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(
        a.body["errors"][0]["field"], "settings.sms.gateways[0].auth_token",
        "{}",
        a.body
    );
}

async fn what_applications_use_cannot_be_taken_from_the_settings(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let api = "https://api.acme.example/";
    let a = patch_acme(
        &app,
        &admin,
        json!({"settings": {"resources": [{"identifier": api, "scopes": ["read"]}]}}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let path = "/organizations/acme/applications/pwd-web";
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        path,
        Some(json!({"resources": [api]})),
        Some("*"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = patch_acme(&app, &admin, json!({"settings": {"resources": []}})).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.body["errors"][0]["field"], "settings.resources");
    assert!(
        a.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("pwd-web"),
        "{}",
        a.body
    );
    // Only the system role changes the administration organization, whatever role over it.
    let out = app.cli(&[
        "admin",
        "grant",
        "--client",
        "ops-admin",
        "--org",
        "admin",
        "--role",
        "owner",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let admin = token(&app, "ops-admin").await;
    let read = call(
        &app,
        Some(&admin),
        Method::GET,
        "/organizations/admin",
        None,
        None,
    )
    .await;
    assert_eq!(read.status, 200, "an owner reads it: {}", read.body);
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        "/organizations/admin",
        Some(json!({"display_name": "Mine"})),
        read.etag.as_deref(),
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
}

/// Registration is opened through the API by the rules of a file: only to applications of the
/// organization that a new account can sign in to.
async fn registration_is_opened_only_where_a_new_account_can_sign_in(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let open = |client: &str| json!({"settings": {"registration": {"enabled": true, "applications": [client]}}});
    // mfa-web asks for SMS OTP, which users do not add during sign-in here.
    let a = patch_acme(&app, &admin, open("mfa-web")).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(
        a.body["errors"][0]["field"],
        "settings.registration.applications[0]"
    );
    assert!(a.body.to_string().contains("during_sign_in"), "{}", a.body);
    let a = patch_acme(&app, &admin, open("nobody-web")).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body.to_string().contains("not an application"),
        "{}",
        a.body
    );
    let a = patch_acme(&app, &admin, open("pwd-web")).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

both_backends!(
    the_servers_files_and_environment_stay_out_of_reach,
    what_applications_use_cannot_be_taken_from_the_settings,
    registration_is_opened_only_where_a_new_account_can_sign_in,
);

async fn references_cannot_be_smuggled_or_moved(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let token_file = app.write_file("twilio-token", "twilio-auth-token\n");
    let gateway = |base: &str| {
        format!(
            "[[organizations.sms.gateways]]\ntype = \"twilio\"\n\
             account_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = {{ file = \"{}\" }}\n\
             from = \"+15005550006\"\nbase_url = \"{base}\"\n",
            token_file.display()
        )
    };
    let extra = format!(
        "\n[organizations.sms]\nchannel = \"gateways\"\n{}{}",
        gateway("https://api.twilio.com"),
        gateway("https://backup.twilio.example")
    );
    app.import(&setup_file(&app, &extra));
    // A reference written as a list is no reference at all.
    let listed = json!({"settings": {"sms": {"channel": "gateways", "gateways": [{
        "type": "http",
        "url": "https://collector.example/x",
        "body_template": "{to} {message}",
        "auth": {"bearer": {"token": ["SESAME_KEY_ENCRYPTION_KEY", null]}},
    }]}}});
    let a = patch_acme(&app, &admin, listed).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(
        a.body["errors"][0]["field"]
            .as_str()
            .unwrap()
            .starts_with("settings.sms"),
        "{}",
        a.body
    );
    // The operator's reference, sent as it is but to another address: refused.
    let path = token_file.display().to_string();
    let moved = json!({"settings": {"sms": {"channel": "gateways", "gateways": [{
        "type": "twilio",
        "account_sid": "AC0123456789abcdef0123456789abcdef",
        "auth_token": {"file": path},
        "from": "+15005550006",
        "base_url": "https://collector.example",
    }]}}});
    let a = patch_acme(&app, &admin, moved).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(
        a.body["errors"][0]["field"], "settings.sms.gateways[0].auth_token",
        "{}",
        a.body
    );
    assert!(
        a.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("provisioning file"),
        "{}",
        a.body
    );
    // The first gateway removed: the second keeps its reference, wherever it now stands.
    let read = call(
        &app,
        Some(&admin),
        Method::GET,
        "/organizations/acme",
        None,
        None,
    )
    .await;
    let second = read.body["settings"]["sms"]["gateways"][1].clone();
    let a = patch_acme(
        &app,
        &admin,
        json!({"settings": {"sms": {"channel": "gateways", "gateways": [second]}}}),
    )
    .await;
    assert_eq!(
        a.status, 400,
        "a redacted secret at a new place is not restored: {}",
        a.body
    );
    let kept = json!({"type": "twilio", "account_sid": "AC0123456789abcdef0123456789abcdef",
        "auth_token": {"file": token_file.display().to_string()}, "from": "+15005550006",
        "base_url": "https://backup.twilio.example"});
    let a = patch_acme(
        &app,
        &admin,
        json!({"settings": {"sms": {"channel": "gateways", "gateways": [kept]}}}),
    )
    .await;
    assert_eq!(
        a.status, 200,
        "the same reference, to the same address: {}",
        a.body
    );
    assert_eq!(
        a.body["settings"]["sms"]["gateways"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

both_backends!(references_cannot_be_smuggled_or_moved);
