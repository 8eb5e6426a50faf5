//! The SMS channel's test message, webhooks and roles through the management API.

use super::*;
use crate::gateways::Provider;
use crate::helpers::wait_for;
use crate::websub::Subscriber;

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Answer {
    call(app, Some(token), Method::POST, path, Some(body), None).await
}

async fn a_test_message_goes_through_the_channel_within_its_limit(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let path = "/organizations/acme/sms/test-message";
    let to = json!({"phone_number": "+44 7400 900123"});
    for role in ["ops-viewer", "ops-support"] {
        let t = token(&app, role).await;
        assert_eq!(post(&app, &t, path, to.clone()).await.status, 403, "{role}");
    }
    let a = post(&app, &admin, path, to.clone()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["to"], "********0123");
    let sent = app.sms.sent();
    let last = sent.last().expect("a text");
    assert_eq!(last.to, "+447400900123");
    assert!(
        last.body.contains("Test message from Sesame for Acme Corp"),
        "{}",
        last.body
    );
    let a = post(&app, &admin, path, json!({"phone_number": "12345"})).await;
    assert_eq!(
        (a.status, a.body["errors"][0]["field"].as_str()),
        (400, Some("phone_number")),
        "{}",
        a.body
    );
    // A gateway that refuses: the problem says so, and the log has it.
    let (provider, base) = Provider::start().await;
    provider.answer(401, r#"{"error":"bad key"}"#);
    let read = call(
        &app,
        Some(&admin),
        Method::GET,
        "/organizations/acme",
        None,
        None,
    )
    .await;
    let gateway = json!({"type": "http", "url": format!("{base}/send"), "body_template": "{\"to\":\"{to}\",\"text\":\"{message}\"}"});
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        "/organizations/acme",
        Some(json!({"settings": {"sms": {"channel": "gateways", "gateways": [gateway]}}})),
        read.etag.as_deref(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = post(&app, &admin, path, to.clone()).await;
    assert_eq!(
        (a.status, a.media.as_str()),
        (502, "application/problem+json"),
        "{}",
        a.body
    );
    assert_eq!(provider.received().len(), 1);
    let log = audit(&app).await;
    let tests: Vec<&Value> = log
        .iter()
        .filter(|e| e["action"] == "sms.test_message")
        .collect();
    assert_eq!(tests.len(), 2, "{log:?}");
    assert_eq!(tests[0]["changes"]["result"]["after"], "failed");
    // The test harness captures what the console channel would print.
    assert_eq!(tests[1]["changes"]["gateway"]["after"], "capture#0");
    // Twenty an hour, whatever became of them (the provider takes the next ones).
    for _ in 2..20 {
        assert_eq!(post(&app, &admin, path, to.clone()).await.status, 200);
    }
    let a = post(&app, &admin, path, to).await;
    assert_eq!(a.status, 429, "{}", a.body);
    assert_eq!(provider.received().len(), 19);
}

async fn webhooks_are_declared_listed_and_removed(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let viewer = token(&app, "ops-viewer").await;
    let (subscriber, callback) = Subscriber::start().await;
    let path = "/organizations/acme/webhooks";
    let secret = "a-webhook-secret-0123456789";
    for (body, field) in [
        (
            json!({"topic": "EVERYTHING", "callback": callback, "secret": secret}),
            "topic",
        ),
        (
            json!({"topic": "LOGINS", "callback": "ftp://x.example/", "secret": secret}),
            "callback",
        ),
        (
            json!({"topic": "LOGINS", "callback": callback, "secret": "short"}),
            "secret",
        ),
    ] {
        let a = post(&app, &admin, path, body.clone()).await;
        assert_eq!(
            (a.status, a.body["errors"][0]["field"].as_str()),
            (400, Some(field)),
            "{body}: {}",
            a.body
        );
    }
    let new = json!({"topic": "USER_OPERATIONS", "callback": format!("{callback}?token=t0k3n"), "secret": secret});
    assert_eq!(post(&app, &viewer, path, new.clone()).await.status, 403);
    let a = post(&app, &admin, path, new.clone()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["state"], "pending");
    let id = a.body["id"].as_str().unwrap().to_string();
    assert!(!a.body.to_string().contains("t0k3n"), "{}", a.body);
    wait_for("the intent verification", || {
        !subscriber.verifications().is_empty()
    })
    .await;
    let mut listed = Value::Null;
    for _ in 0..50 {
        listed = call(&app, Some(&viewer), Method::GET, path, None, None)
            .await
            .body;
        if listed[0]["state"] == "active" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(listed[0]["state"], "active", "{listed}");
    assert_eq!(post(&app, &admin, path, new).await.status, 409);
    let log = audit(&app).await;
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(secret) && !text.contains("t0k3n"), "{text}");
    assert!(log.iter().any(|e| e["action"] == "webhook.create"));
    let one = format!("{path}/{id}");
    let a = call(&app, Some(&admin), Method::DELETE, &one, None, None).await;
    assert_eq!(a.status, 204, "{}", a.body);
    let a = call(&app, Some(&viewer), Method::GET, path, None, None).await;
    assert_eq!(a.body, json!([]));
    let a = call(&app, Some(&admin), Method::DELETE, &one, None, None).await;
    assert_eq!(a.status, 404);
    assert!(
        audit(&app)
            .await
            .iter()
            .any(|e| e["action"] == "webhook.delete" && e["entity_id"] == id.as_str())
    );
}

async fn owners_grant_and_take_back_roles(backend: Backend) {
    let app = setup(&backend).await;
    let admin = token(&app, "ops-admin").await;
    let root = token(&app, "ops-root").await;
    let roles = "/organizations/acme/roles";
    let a = call(&app, Some(&admin), Method::GET, roles, None, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let held = |a: &Answer| {
        a.body
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{}/{}={}",
                    r["kind"].as_str().unwrap(),
                    r["name"].as_str().unwrap(),
                    r["role"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        held(&a),
        [
            "clients/ops-admin=admin",
            "clients/ops-root=system",
            "clients/ops-support=support",
            "clients/ops-viewer=viewer"
        ]
    );
    let viewer_role = format!("{roles}/clients/ops-viewer");
    let support = json!({"role": "support"});
    let a = call(
        &app,
        Some(&admin),
        Method::PUT,
        &viewer_role,
        Some(support.clone()),
        None,
    )
    .await;
    assert_eq!(a.status, 403, "an admin does not grant: {}", a.body);
    let a = call(
        &app,
        Some(&root),
        Method::PUT,
        &format!("{roles}/clients/ops-none"),
        Some(json!({"role": "owner"})),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let owner = token(&app, "ops-none").await;
    let a = call(
        &app,
        Some(&owner),
        Method::PUT,
        &viewer_role,
        Some(support),
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        held(&a).contains(&"clients/ops-viewer=support".to_string()),
        "{}",
        a.body
    );
    for (path, body, status) in [
        (
            format!("{roles}/clients/ops-none"),
            json!({"role": "viewer"}),
            409,
        ),
        (viewer_role.clone(), json!({"role": "system"}), 400),
        (format!("{roles}/groups/x"), json!({"role": "viewer"}), 404),
        (
            format!("{roles}/clients/nobody"),
            json!({"role": "viewer"}),
            404,
        ),
        (viewer_role.clone(), json!({"role": "emperor"}), 400),
    ] {
        let a = call(
            &app,
            Some(&owner),
            Method::PUT,
            &path,
            Some(body.clone()),
            None,
        )
        .await;
        assert_eq!(a.status, status, "{path} {body}: {}", a.body);
    }
    let a = call(&app, Some(&owner), Method::DELETE, &viewer_role, None, None).await;
    assert_eq!(a.status, 204, "{}", a.body);
    let a = call(&app, Some(&owner), Method::DELETE, &viewer_role, None, None).await;
    assert_eq!(a.status, 404, "{}", a.body);
    let was_viewer = token(&app, "ops-viewer").await;
    let a = call(
        &app,
        Some(&was_viewer),
        Method::GET,
        "/organizations/acme",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    // The viewer is gone: the log read as the admin.
    let a = call(
        &app,
        Some(&admin),
        Method::GET,
        "/organizations/acme/audit",
        None,
        None,
    )
    .await;
    let log = a.body["items"].as_array().unwrap().clone();
    let grant = log
        .iter()
        .find(|e| e["action"] == "role.grant" && e["actor_name"] == "ops-none")
        .expect("the owner's grant audited");
    assert_eq!(
        grant["changes"]["role"],
        json!({"before": "viewer", "after": "support"})
    );
    assert!(log.iter().any(|e| e["action"] == "role.revoke"));
}

both_backends!(
    a_test_message_goes_through_the_channel_within_its_limit,
    webhooks_are_declared_listed_and_removed,
    owners_grant_and_take_back_roles,
);
