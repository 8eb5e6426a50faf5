//! Users through the management API: unlock, versions, factors and sessions, paging, search.

use super::*;

async fn an_unlocked_user_signs_in_again_and_the_unlock_is_audited(backend: Backend) {
    let app = setup(&backend).await;
    // A subscriber of acme's ADMIN topic.
    let (subscriber, callback) = crate::websub::Subscriber::start().await;
    let secret = app.write_file("hook-secret", "a-subscriber-secret-0123456789");
    app.import(&setup_file(
        &app,
        &crate::deliveries::webhooks_toml("ADMIN", &[&callback], &secret),
    ));
    crate::deliveries::eventually("the subscription active", || {
        crate::deliveries::active_subscriptions(&app) == 1
    })
    .await;
    for _ in 0..3 {
        let res = password_step(
            &app,
            &Browser::default(),
            "pwd-web",
            "bob",
            "wrong-password",
        )
        .await;
        assert!(
            [200, 401, 403, 422].contains(&res.status().as_u16()),
            "{}",
            res.status()
        );
    }
    let res = password_step(&app, &Browser::default(), "pwd-web", "bob", BOB_PASSWORD).await;
    assert_eq!(res.status(), 403, "locked");
    let support = token(&app, "ops-support").await;
    let bob = user_id(&app, &support, "bob").await;
    let a = call(
        &app,
        Some(&support),
        Method::GET,
        &format!("/organizations/acme/users/{bob}"),
        None,
        None,
    )
    .await;
    assert!(a.body["locked_until"].is_string(), "{}", a.body);
    let a = call(
        &app,
        Some(&support),
        Method::POST,
        &format!("/organizations/acme/users/{bob}/unlock"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["locked_until"].is_null(), "{}", a.body);
    let res = password_step(&app, &Browser::default(), "pwd-web", "bob", BOB_PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with(PWD_CB), "{}", location(&res));

    let entry = audit(&app)
        .await
        .into_iter()
        .find(|e| e["action"] == "user.unlock")
        .expect("the unlock is in the audit log");
    assert_eq!(entry["entity_id"], bob.as_str());
    assert!(
        entry["actor"].as_str().unwrap().starts_with("client:"),
        "{entry}"
    );
    assert_eq!(entry["actor_name"], "ops-support");
    assert_eq!(entry["via"], "api");
    assert_eq!(entry["ip"], "127.0.0.1");
    assert!(entry["request_id"].is_string(), "{entry}");
    assert!(
        entry["changes"]["locked_until"]["before"].is_string(),
        "{entry}"
    );
    assert!(
        entry["changes"]["locked_until"]["after"].is_null(),
        "{entry}"
    );
    // Published on acme's ADMIN topic too, without the address and request id.
    crate::deliveries::eventually("the unlock's event at the subscriber", || {
        subscriber
            .bodies()
            .iter()
            .any(|b| b.contains("user.unlock"))
    })
    .await;
    let body = subscriber
        .bodies()
        .into_iter()
        .find(|b| b.contains("user.unlock"))
        .unwrap();
    let event: Value = serde_json::from_str(&body).unwrap();
    let data = &event["event"]["urn:ietf:params:admin:change"];
    assert_eq!(data["actorName"], "ops-support", "{event}");
    assert_eq!(data["entityId"], bob.as_str());
    assert!(
        data.get("ip").is_none() && data.get("requestId").is_none(),
        "{event}"
    );
    assert!(
        event["aud"].as_str().unwrap().ends_with("/acme/ADMIN"),
        "{event}"
    );
}

async fn a_change_needs_the_version_it_was_read_at(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let carol = user_id(&app, &admin, "carol").await;
    let path = format!("/organizations/acme/users/{carol}");
    let read = call(&app, Some(&admin), Method::GET, &path, None, None).await;
    let tag = read.etag.clone().expect("an ETag");
    assert_eq!(tag, format!("\"{}\"", read.body["version"]));
    let change = json!({"email": "carol@acme.example", "email_verified": true});
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        &path,
        Some(change.clone()),
        None,
    )
    .await;
    assert_eq!(a.status, 428, "{}", a.body);
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        &path,
        Some(change.clone()),
        Some(&tag),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["email"], "carol@acme.example");
    assert_eq!(a.body["email_verified"], true);
    assert_ne!(a.etag.as_deref(), Some(tag.as_str()), "a new version");
    // A second administrator still holding the old version is refused, not silently applied.
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        &path,
        Some(json!({"email": "someone@else.example"})),
        Some(&tag),
    )
    .await;
    assert_eq!(a.status, 412, "{}", a.body);
    assert_eq!(a.body["type"], "urn:sesame:problem:stale-version");
    let now = call(&app, Some(&admin), Method::GET, &path, None, None).await;
    assert_eq!(now.body["email"], "carol@acme.example");
    let tag = now.etag.unwrap();
    // Bad input: the field is named; nothing changes.
    for (body, field) in [
        (json!({"email": "not an email"}), "email"),
        (json!({"phone_number": "12"}), "phone_number"),
        (json!({"disabled": "yes"}), "disabled"),
        (json!({"nickname": "x"}), "."),
    ] {
        let a = call(
            &app,
            Some(&admin),
            Method::PATCH,
            &path,
            Some(body.clone()),
            Some(&tag),
        )
        .await;
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        assert_eq!(a.media, "application/problem+json");
        if field != "." {
            assert_eq!(a.body["errors"][0]["field"], field, "{}", a.body);
        }
    }
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        &path,
        Some(json!({"username": "bob"})),
        Some(&tag),
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.body);
    let res = app
        .client
        .patch(format!("{}{path}", api(&app)))
        .bearer_auth(&admin)
        .header("if-match", &tag)
        .header("content-type", "text/plain")
        .body("email=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    let after = call(&app, Some(&admin), Method::GET, &path, None, None).await;
    assert_eq!(after.etag.as_deref(), Some(tag.as_str()), "unchanged");
    // Any of the tags listed matches; a weak one never does.
    let listed = format!("\"999\", {tag}");
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        &path,
        Some(json!({"profile": {"nickname": "cc"}})),
        Some(&listed),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["profile"]["nickname"], "cc");
    let weak = format!("W/{}", a.etag.clone().unwrap());
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        &path,
        Some(json!({"profile": {"nickname": null}})),
        Some(&weak),
    )
    .await;
    assert_eq!(a.status, 412, "{}", a.body);
    // A claim set to null is removed; the others stay (a merge patch).
    let tag = call(&app, Some(&admin), Method::GET, &path, None, None)
        .await
        .etag
        .unwrap();
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        &path,
        Some(json!({"profile": {"nickname": null, "locale": "en-GB"}})),
        Some(&tag),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["profile"], json!({"locale": "en-GB"}));
    let tag = a.etag.unwrap();
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        &path,
        Some(json!({"disabled": null})),
        Some(&tag),
    )
    .await;
    assert_eq!(
        (a.status, a.body["errors"][0]["field"].as_str()),
        (400, Some("disabled"))
    );
    // Control characters are refused before anything reaches the database.
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        &path,
        Some(json!({"profile": {"nickname": "a\u{0}b"}})),
        Some(&tag),
    )
    .await;
    assert_eq!(
        (a.status, a.body["errors"][0]["field"].as_str()),
        (400, Some("profile.nickname"))
    );
    let a = call(
        &app,
        Some(&admin),
        Method::GET,
        "/organizations/acme/users?username=%00",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    let a = call(
        &app,
        Some(&admin),
        Method::GET,
        "/organizations/acme/users/%00",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
    // A user of another organization is not found through this one.
    let root = token(&app, "ops-root").await;
    let a = call(
        &app,
        Some(&root),
        Method::POST,
        "/organizations/other/users",
        Some(json!({"username": "olga"})),
        None,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let olga = a.body["id"].as_str().unwrap();
    assert!(a.etag.is_some());
    let a = call(
        &app,
        Some(&admin),
        Method::GET,
        &format!("/organizations/acme/users/{olga}"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        &format!("/organizations/acme/users/{olga}/end-sessions"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404, "{}", a.body);
    let entry = audit(&app)
        .await
        .into_iter()
        .find(|e| e["action"] == "user.update" && e["changes"].get("email").is_some())
        .expect("the change is audited");
    assert_eq!(
        entry["changes"]["email"],
        json!({"before": null, "after": "carol@acme.example"})
    );
    assert!(entry["changes"].get("version").is_none(), "{entry}");
}

async fn support_resets_factors_and_ends_sessions(backend: Backend) {
    let app = setup(&backend).await;
    let support = token(&app, "ops-support").await;
    let bob = user_id(&app, &support, "bob").await;
    let path = format!("/organizations/acme/users/{bob}");
    let out = app.cli(&["backup-codes", "--org", "acme", "--user", "bob"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Bob signs in (password only) and holds tokens.
    let browser = Browser::default();
    let res = password_step(&app, &browser, "pwd-web", "bob", BOB_PASSWORD).await;
    let code = query_of(&location(&res))["code"].clone();
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("pwd-web", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", PWD_CB),
        ])
        .send()
        .await
        .unwrap();
    let tokens: Value = res.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let userinfo = || async {
        app.client
            .get(format!("{}/userinfo", app.issuer("acme")))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(userinfo().await, 200);

    let before = call(&app, Some(&support), Method::GET, &path, None, None).await;
    assert_eq!(before.body["backup_codes_remaining"], 10);
    assert_eq!(before.body["phone_number"], "+447400900123");
    let a = call(
        &app,
        Some(&support),
        Method::POST,
        &format!("{path}/reset-factors"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["backup_codes_remaining"], 0);
    assert!(a.body["phone_number"].is_null(), "{}", a.body);
    assert_eq!(a.body["phone_number_verified"], false);
    assert_eq!(
        userinfo().await,
        200,
        "resetting factors leaves sessions alone"
    );
    // The user's account changes, as when they make them.
    let listed = stdout(&app.cli(&["events", "list", "--org", "acme", "--limit", "100"]));
    for event in ["MobileNumberUpdatedEvent", "BackupCodesRemovedEvent"] {
        assert!(listed.contains(event), "{event} in {listed}");
    }

    let a = call(
        &app,
        Some(&support),
        Method::POST,
        &format!("{path}/end-sessions"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(userinfo().await, 401, "every token of bob is revoked");
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("pwd-web", Some(SECRET))
        .form(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().unwrap_or("none"),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "the refresh token is revoked too");
    let actions: Vec<String> = audit(&app)
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    assert!(
        actions.starts_with(&["user.end_sessions".into(), "user.reset_factors".into()]),
        "{actions:?}"
    );
}

async fn users_are_created_found_page_by_page_and_deleted(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        "/organizations/acme/users",
        Some(json!({
            "username": "dave",
            "email": "Dave@Acme.example",
            "email_verified": true,
            "phone_number": "+44 7400 900555",
            "phone_number_verified": true,
            "password": "daves-long-password",
        })),
        None,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.etag.as_deref(), Some("\"1\""));
    assert_eq!(a.body["has_password"], true);
    let text = a.body.to_string();
    assert!(
        !text.contains("daves-long-password") && !text.contains("argon2"),
        "{text}"
    );
    let dave = a.body["id"].as_str().unwrap().to_string();
    // Dave signs in with the password set.
    let res = password_step(
        &app,
        &Browser::default(),
        "pwd-web",
        "dave",
        "daves-long-password",
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with(PWD_CB));
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        "/organizations/acme/users",
        Some(json!({"username": "dave"})),
        None,
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.body);
    let a = call(
        &app,
        Some(&admin),
        Method::POST,
        "/organizations/acme/users",
        Some(json!({"username": "erin", "password": "short"})),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.body["errors"][0]["field"].as_str()),
        (400, Some("password"))
    );

    // Search by part of the email (any case) or the number.
    let find = |q: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let a = call(
                app,
                Some(admin),
                Method::GET,
                &format!("/organizations/acme/users?{q}"),
                None,
                None,
            )
            .await;
            assert_eq!(a.status, 200, "{q}: {}", a.body);
            a.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(find("email=dave%40ACME").await, ["dave"]);
    assert_eq!(find("phone_number=900555").await, ["dave"]);
    assert_eq!(
        find("username=_").await,
        Vec::<String>::new(),
        "wildcards match themselves"
    );
    // Pages of two: every user once, in order.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let q = match &next {
            Some(after) => format!("/organizations/acme/users?limit=2&after={after}"),
            None => "/organizations/acme/users?limit=2".into(),
        };
        let a = call(&app, Some(&admin), Method::GET, &q, None, None).await;
        assert_eq!(a.status, 200, "{}", a.body);
        let items = a.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|u| u["username"].as_str().unwrap().to_string()),
        );
        match a.body["next"].as_str() {
            Some(n) => next = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["bob", "carol", "dave", "mallory"]);
    let a = call(
        &app,
        Some(&admin),
        Method::GET,
        "/organizations/acme/users?limit=0",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 400);
    let a = call(
        &app,
        Some(&admin),
        Method::GET,
        "/organizations/acme/users?colour=red",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 400);

    // A new password ends dave's sessions and the old one stops working.
    let a = call(
        &app,
        Some(&admin),
        Method::PUT,
        &format!("/organizations/acme/users/{dave}/password"),
        Some(json!({"password": "daves-newer-password"})),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let res = password_step(
        &app,
        &Browser::default(),
        "pwd-web",
        "dave",
        "daves-long-password",
    )
    .await;
    assert_ne!(res.status(), 303);
    let res = password_step(
        &app,
        &Browser::default(),
        "pwd-web",
        "dave",
        "daves-newer-password",
    )
    .await;
    assert_eq!(res.status(), 303);
    // No subscriber of ADMIN: the log holds the change, the outbox no event of it.
    let events = stdout(&app.cli(&["events", "list", "--org", "acme", "--limit", "100"]));
    assert!(!events.contains("AdminChangeEvent"), "{events}");

    let a = call(
        &app,
        Some(&admin),
        Method::DELETE,
        &format!("/organizations/acme/users/{dave}"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 204);
    assert_eq!(find("username=dave").await, Vec::<String>::new());
    let log = audit(&app).await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        &actions[..3],
        ["user.delete", "user.set_password", "user.create"]
    );
    let created = &log[2]["changes"];
    assert_eq!(created["username"]["after"], "dave");
    assert_eq!(created["has_password"]["after"], true);
    assert!(!log[1].to_string().contains("argon2"), "{}", log[1]);
    // Older pages of the log follow `next`.
    let viewer = token(&app, "ops-viewer").await;
    let first = call(
        &app,
        Some(&viewer),
        Method::GET,
        "/organizations/acme/audit?limit=1",
        None,
        None,
    )
    .await;
    let next = first.body["next"].as_i64().expect("more entries");
    let second = call(
        &app,
        Some(&viewer),
        Method::GET,
        &format!("/organizations/acme/audit?limit=1&before={next}"),
        None,
        None,
    )
    .await;
    assert_eq!(second.body["items"][0]["action"], "user.set_password");
}

both_backends!(
    an_unlocked_user_signs_in_again_and_the_unlock_is_audited,
    a_change_needs_the_version_it_was_read_at,
    support_resets_factors_and_ends_sessions,
    users_are_created_found_page_by_page_and_deleted,
);

/// Under smart lockout a stranger's failures lock only their own address (and count toward the
/// account's daily ceiling): an unlock ends those locks too, and only this account's (a user
/// whose name ends like bob's keeps theirs).
async fn an_unlock_ends_the_smart_lockouts_locks_too(backend: Backend) {
    let app = setup(&backend).await;
    let smart = setup_file(&app, "").replace(
        "max_attempts = 3\nduration_seconds = 600",
        "max_attempts = 3\nduration_seconds = 600\nsmart = true",
    );
    app.import(&(smart.replace(
        "[[organizations.users]]\nusername = \"carol\"",
        "[[organizations.users]]\nusername = \"x:bob\"\npassword = \"x-bobs-long-password\"\n\n[[organizations.users]]\nusername = \"carol\"",
    )));
    for name in ["bob", "x:bob"] {
        for _ in 0..3 {
            password_step(&app, &Browser::default(), "pwd-web", name, "wrong-password").await;
        }
    }
    let res = password_step(&app, &Browser::default(), "pwd-web", "bob", BOB_PASSWORD).await;
    assert_eq!(res.status(), 403, "bob locked out from this address");
    let res = password_step(
        &app,
        &Browser::default(),
        "pwd-web",
        "x:bob",
        "x-bobs-long-password",
    )
    .await;
    assert_eq!(res.status(), 403, "x:bob locked out from this address");
    let support = token(&app, "ops-support").await;
    let bob = user_id(&app, &support, "bob").await;
    let a = call(
        &app,
        Some(&support),
        Method::POST,
        &format!("/organizations/acme/users/{bob}/unlock"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body["locked_until"].is_null(), "{}", a.body);
    let res = password_step(&app, &Browser::default(), "pwd-web", "bob", BOB_PASSWORD).await;
    assert_eq!(res.status(), 303, "bob signs in again");
    let res = password_step(
        &app,
        &Browser::default(),
        "pwd-web",
        "x:bob",
        "x-bobs-long-password",
    )
    .await;
    assert_eq!(res.status(), 403, "x:bob's lock stays");
}

both_backends!(an_unlock_ends_the_smart_lockouts_locks_too);
