//! Organizations, applications, keys and events through the management API, and imports in
//! the audit log.

use super::*;

async fn organizations_and_applications_are_read_within_the_roles(backend: Backend) {
    let app = setup(&backend).await;
    let viewer = token(&app, "ops-viewer").await;
    let root = token(&app, "ops-root").await;
    let slugs = |a: &Answer| {
        a.body
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["slug"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let a = call(
        &app,
        Some(&viewer),
        Method::GET,
        "/organizations",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(slugs(&a), ["acme"]);
    assert_eq!(a.body[0]["role"], "viewer");
    let a = call(&app, Some(&root), Method::GET, "/organizations", None, None).await;
    for slug in ["acme", "admin", "other"] {
        assert!(slugs(&a).contains(&slug.to_string()), "{}", a.body);
    }
    assert!(
        a.body
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["role"] == "system")
    );
    let a = call(
        &app,
        Some(&viewer),
        Method::GET,
        "/organizations/acme",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["settings"]["lock_policy"]["max_attempts"], 3);
    let a = call(
        &app,
        Some(&viewer),
        Method::GET,
        "/organizations/other",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 403);
    let a = call(
        &app,
        Some(&viewer),
        Method::GET,
        "/organizations/acme/applications",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let mfa = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["client_id"] == "mfa-web")
        .expect("mfa-web listed")
        .clone();
    assert_eq!(
        mfa["sign_in_flow"],
        json!([["password"], ["sms_otp", "backup_code"]])
    );
    assert_eq!(
        (mfa["has_secret"].as_bool(), mfa["backup_codes"].as_bool()),
        (Some(true), Some(true))
    );
    assert!(!a.body.to_string().contains(SECRET), "no secret");
    let a = call(
        &app,
        Some(&viewer),
        Method::GET,
        "/organizations/acme/applications/pwd-web",
        None,
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.body["sign_in_flow"].clone()),
        (200, json!([["password"]]))
    );
    let a = call(
        &app,
        Some(&viewer),
        Method::GET,
        "/organizations/acme/applications/nope",
        None,
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.media.as_str()),
        (404, "application/problem+json")
    );
}

async fn imports_are_audited_change_by_change(backend: Backend) {
    let app = setup(&backend).await;
    let log = audit(&app).await;
    let by_import: Vec<(&str, &str)> = log
        .iter()
        .filter(|e| e["via"] == "import")
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["entity_id"].as_str().unwrap(),
            )
        })
        .collect();
    for expected in [
        ("organization.create", "acme"),
        ("application.create", "mfa-web"),
    ] {
        assert!(
            by_import.contains(&expected),
            "{expected:?} in {by_import:?}"
        );
    }
    assert_eq!(
        by_import
            .iter()
            .filter(|(a, _)| *a == "user.create")
            .count(),
        3
    );
    let created = log
        .iter()
        .find(|e| e["action"] == "application.create")
        .unwrap();
    assert_eq!(created["actor"], "operator");
    assert_eq!(
        created["changes"]["client_secret"]["after"], "[redacted]",
        "{created}"
    );
    assert!(!created.to_string().contains(SECRET));
    // The same file again changes nothing and writes nothing; a changed user is one entry with
    // its diff.
    let before = log.len();
    let file = acme_toml(
        "resend_cooldown_seconds = 0",
        "max_attempts = 3\nduration_seconds = 600",
    );
    app.import(&file);
    assert_eq!(audit(&app).await.len(), before);
    app.import(&file.replace(
        "username = \"carol\"",
        "username = \"carol\"\nemail = \"carol@acme.example\"",
    ));
    let log = audit(&app).await;
    assert_eq!(log.len(), before + 1);
    assert_eq!(
        (log[0]["action"].as_str(), log[0]["via"].as_str()),
        (Some("user.update"), Some("import"))
    );
    assert_eq!(
        log[0]["changes"]["email"],
        json!({"before": null, "after": "carol@acme.example"})
    );
    // A dry run leaves no entry either.
    let path = app.write_file(
        "dry.toml",
        &file.replace("display_name = \"Acme Corp\"", "display_name = \"Acme\""),
    );
    let out = app.cli(&["import", "--dry-run", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(audit(&app).await.len(), before + 1);
}

async fn keys_are_listed_rotated_and_retired(backend: Backend) {
    let app = setup(&backend).await;
    let kids = |jwks: &Value| {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let before = kids(&app.jwks("acme").await);
    let viewer = token(&app, "ops-viewer").await;
    let admin = token(&app, "ops-admin").await;
    let a = call(
        &app,
        Some(&viewer),
        Method::GET,
        "/organizations/acme/keys",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let listed = a.body.as_array().unwrap().clone();
    assert_eq!(listed.len(), 3, "{}", a.body);
    assert!(listed.iter().all(|k| k["state"] == "active"));
    assert!(!a.body.to_string().contains("private"), "{}", a.body);
    let rs256 = listed.iter().find(|k| k["alg"] == "RS256").unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(before.contains(&rs256));
    let rotate = "/organizations/acme/keys/rotate";
    let a = call(&app, Some(&viewer), Method::POST, rotate, None, None).await;
    assert_eq!(a.status, 403);
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        rotate,
        Some(json!({"alg": "XX"})),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.body["errors"][0]["field"].as_str()),
        (400, Some("alg"))
    );
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        rotate,
        Some(json!({"alg": "RS256", "now": true})),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let new = a.body[0]["kid"].as_str().unwrap().to_string();
    assert_eq!(a.body[0]["state"], "active");
    // Both published: what the old key signed still verifies.
    let after = kids(&app.jwks("acme").await);
    assert!(after.contains(&new) && after.contains(&rs256), "{after:?}");
    let retire = format!("/organizations/acme/keys/{rs256}/retire");
    let a = call(&app, Some(&admin), Method::POST, &retire, None, None).await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert!(!kids(&app.jwks("acme").await).contains(&rs256));
    let a = call(&app, Some(&admin), Method::POST, &retire, None, None).await;
    assert_eq!(a.status, 409, "{}", a.body);
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        &format!("/organizations/acme/keys/{new}/retire"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 409, "the active key stays: {}", a.body);
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        "/organizations/acme/keys/nope/retire",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
    let actions: Vec<String> = audit(&app)
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(&actions[..2], ["key.retire", "key.rotate"]);

    // A key rotated in and waiting to sign: retiring it cancels the rotation.
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        rotate,
        Some(json!({"alg": "RS256"})),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let staged = a.body[0]["kid"].as_str().unwrap().to_string();
    assert_eq!(a.body[0]["state"], "published", "{}", a.body);
    assert!(kids(&app.jwks("acme").await).contains(&staged));
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        &format!("/organizations/acme/keys/{staged}/retire"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert!(!kids(&app.jwks("acme").await).contains(&staged));
    let a = call(
        &app,
        Some(&viewer),
        Method::GET,
        "/organizations/acme/keys",
        None,
        None,
    )
    .await;
    let listed = a.body.as_array().unwrap();
    let state_of = |kid: &str| {
        listed
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| (k["state"].clone(), k["activate_at"].clone()))
    };
    assert_eq!(
        state_of(&new),
        Some((json!("active"), Value::Null)),
        "the active key goes on signing: {}",
        a.body
    );
    assert_eq!(
        state_of(&staged),
        Some((json!("retired"), Value::Null)),
        "{}",
        a.body
    );
    let entry = audit(&app).await[0].clone();
    assert_eq!(entry["action"], "key.retire");
    assert!(
        entry["changes"]["activate_at"]["before"].is_string(),
        "{entry}"
    );
}

async fn events_are_listed_and_redelivered(backend: Backend) {
    let app = setup(&backend).await;
    // Bob's password step sends him a code: one event, delivered to the SMS channel.
    let browser = Browser::default();
    let res = password_step(&app, &browser, "mfa-web", "bob", BOB_PASSWORD).await;
    let otp_url = location(&res);
    assert!(otp_url.contains("/otp?tx="), "{otp_url}");
    let page = browser.client.get(&otp_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let code = last_code(&app);
    let viewer = token(&app, "ops-viewer").await;
    let admin = token(&app, "ops-admin").await;
    let a = call(
        &app,
        Some(&viewer),
        Method::GET,
        "/organizations/acme/events?limit=100",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let sms = a
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "SmsOtpNotificationEvent")
        .expect("the code's event")
        .clone();
    assert!(!a.body.to_string().contains(&code), "the code never shows");
    let data = &sms["payload"]["event"]["urn:ietf:params:notifications:smsOtp"];
    assert_eq!(data["messageBody"], "[redacted]", "{sms}");
    assert_eq!(sms["deliveries"][0]["target"], "sms");
    assert_eq!(sms["deliveries"][0]["state"], "delivered");
    let jti = sms["id"].as_str().unwrap().to_string();
    let redeliver = format!("/organizations/acme/events/{jti}/redeliver");
    let a = call(&app, Some(&viewer), Method::POST, &redeliver, None, None).await;
    assert_eq!(a.status, 403);
    let sent = app.sms.sent().len();
    let a = call(&app, Some(&admin), Method::POST, &redeliver, None, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body[0]["scheduled"], true, "{}", a.body);
    crate::helpers::wait_for("the redelivery", || app.sms.sent().len() == sent + 1).await;
    let unknown = uuid::Uuid::new_v4();
    for path in [
        format!("/organizations/acme/events/{unknown}/redeliver"),
        "/organizations/acme/events/not-an-id/redeliver".to_string(),
    ] {
        let a = call(&app, Some(&admin), Method::POST, &path, None, None).await;
        assert_eq!(a.status, 404, "{path}: {}", a.body);
    }
    // Another organization's event is not found through this one.
    let a = call(
        &app,
        Some(&token(&app, "ops-root").await),
        Method::POST,
        &redeliver.replace("/acme/", "/other/"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
    let entry = audit(&app)
        .await
        .into_iter()
        .find(|e| e["action"] == "event.redeliver")
        .expect("audited");
    assert_eq!(entry["changes"]["scheduled"]["after"], json!(["sms"]));
}

both_backends!(
    organizations_and_applications_are_read_within_the_roles,
    imports_are_audited_change_by_change,
    keys_are_listed_rotated_and_retired,
    events_are_listed_and_redelivered,
);
