//! The management API from outside: tokens of the `admin` organization's service applications
//! (and of an administrator who signed in), roles per organization, the users' actions and
//! their effect on sign-ins and tokens, versions, problem bodies, the audit log and its `ADMIN`
//! events, and the OpenAPI document.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    Backend, Browser, TestApp, TestDb, location, query_of, stderr, stdout, test_env,
};
use crate::sms_otp::{BOB_PASSWORD, PWD_CB, SECRET, acme_toml, last_code, password_step, submit};

const OPS_SECRET: &str = "an-operations-client-secret-0123456789abcdef";
const CONSOLE_CB: &str = "https://console.example/callback";
/// Service applications of the `admin` organization, by the role each gets over acme
/// (`ops-root`: system; `ops-none`: nothing).
const CLIENTS: [&str; 5] = [
    "ops-viewer",
    "ops-support",
    "ops-admin",
    "ops-none",
    "ops-root",
];

fn api(app: &TestApp) -> String {
    format!("{}/api/v1", app.address)
}

/// acme (password lock after 3 failures) and `other`, plus the `admin` organization with one
/// service application per role and two web applications (`console-test` asks for an SMS code,
/// `console-pwd` for the password only). Roles are granted at the command line.
async fn setup(backend: &Backend) -> TestApp {
    let db = TestDb::new(backend);
    let mut env = test_env(&db.url, db.dir.path());
    // Webhook receivers listen on loopback.
    env.insert("SESAME_OUTBOUND_ALLOW_PRIVATE".into(), "true".into());
    let app = TestApp::spawn_with(db, env).await;
    app.import(&setup_file(&app, ""));
    for (client, role) in [
        ("ops-viewer", "viewer"),
        ("ops-support", "support"),
        ("ops-admin", "admin"),
    ] {
        let out = app.cli(&[
            "admin", "grant", "--client", client, "--org", "acme", "--role", role,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = app.cli(&["admin", "grant", "--client", "ops-root", "--role", "system"]);
    assert!(out.status.success(), "{}", stderr(&out));
    app
}

/// The provisioning file of [`setup`], with `acme_extra` at the end of acme's entry.
fn setup_file(app: &TestApp, acme_extra: &str) -> String {
    let api = api(app);
    let mut file = acme_toml(
        "resend_cooldown_seconds = 0",
        "max_attempts = 3\nduration_seconds = 600",
    );
    file += &format!(
        "\n[[organizations.applications]]\nclient_id = \"acme-svc\"\ntype = \"confidential\"\n\
         client_secret = \"{SECRET}\"\ngrant_types = [\"client_credentials\"]\n"
    );
    file += acme_extra;
    file += "\n[[organizations]]\nslug = \"other\"\ndisplay_name = \"Other\"\n";
    file += &format!(
        "\n[[organizations]]\nslug = \"admin\"\ndisplay_name = \"Administration\"\n\
         [[organizations.resources]]\nidentifier = \"{api}\"\n\
         \n[[organizations.applications]]\nclient_id = \"console-test\"\ntype = \"confidential\"\n\
         client_secret = \"{OPS_SECRET}\"\nredirect_uris = [\"{CONSOLE_CB}\"]\nresources = [\"{api}\"]\n\
         sign_in_flow = \"username_password_sms_otp\"\n\
         \n[[organizations.applications]]\nclient_id = \"console-pwd\"\ntype = \"confidential\"\n\
         client_secret = \"{OPS_SECRET}\"\nredirect_uris = [\"{CONSOLE_CB}\"]\nresources = [\"{api}\"]\n"
    );
    for client in CLIENTS {
        file += &format!(
            "\n[[organizations.applications]]\nclient_id = \"{client}\"\ntype = \"confidential\"\n\
             client_secret = \"{OPS_SECRET}\"\ngrant_types = [\"client_credentials\"]\n\
             resources = [\"{api}\"]\n"
        );
    }
    file
}

/// A client-credentials token of the `admin` organization's `client` for the API.
async fn token(app: &TestApp, client: &str) -> String {
    let res = app
        .client
        .post(format!("{}/token", app.issuer("admin")))
        .basic_auth(client, Some(OPS_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", api(app).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// An answer of the API: status, ETag, content type, body (`null` when empty).
struct Answer {
    status: u16,
    etag: Option<String>,
    media: String,
    body: Value,
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> Answer {
    let mut req = app.client.request(method, format!("{}{path}", api(app)));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (etag, media) = (header("etag"), header("content-type").unwrap_or_default());
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON from {path}: {text}"))
    };
    Answer {
        status,
        etag,
        media,
        body,
    }
}

async fn user_id(app: &TestApp, token: &str, username: &str) -> String {
    let a = call(
        app,
        Some(token),
        Method::GET,
        &format!("/organizations/acme/users?username={username}"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == username)
        .unwrap_or_else(|| panic!("{username} in {}", a.body))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The newest audit entries of acme, read as the viewer.
async fn audit(app: &TestApp) -> Vec<Value> {
    let viewer = token(app, "ops-viewer").await;
    let a = call(
        app,
        Some(&viewer),
        Method::GET,
        "/organizations/acme/audit?limit=200",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["items"].as_array().unwrap().clone()
}

async fn every_role_may_do_what_it_allows_and_no_more(backend: Backend) {
    let app = setup(&backend).await;
    let mut tokens = std::collections::HashMap::new();
    for client in CLIENTS {
        tokens.insert(client, token(&app, client).await);
    }
    let carol = user_id(&app, &tokens["ops-viewer"], "carol").await;
    let user = format!("/organizations/acme/users/{carol}");
    // (method, path, body, the clients allowed)
    let cases: Vec<(Method, String, Option<Value>, &[&str])> = vec![
        (
            Method::GET,
            "/organizations/acme/users".into(),
            None,
            &["ops-viewer", "ops-support", "ops-admin", "ops-root"],
        ),
        (
            Method::GET,
            user.clone(),
            None,
            &["ops-viewer", "ops-support", "ops-admin", "ops-root"],
        ),
        (
            Method::GET,
            "/organizations/acme/audit".into(),
            None,
            &["ops-viewer", "ops-support", "ops-admin", "ops-root"],
        ),
        (
            Method::POST,
            format!("{user}/unlock"),
            None,
            &["ops-support", "ops-admin", "ops-root"],
        ),
        (
            Method::POST,
            format!("{user}/end-sessions"),
            None,
            &["ops-support", "ops-admin", "ops-root"],
        ),
        (
            Method::POST,
            format!("{user}/reset-factors"),
            None,
            &["ops-support", "ops-admin", "ops-root"],
        ),
        (
            Method::PUT,
            format!("{user}/password"),
            Some(json!({"password": "carols-new-long-password"})),
            &["ops-admin", "ops-root"],
        ),
        (
            Method::GET,
            "/organizations/other/users".into(),
            None,
            &["ops-root"],
        ),
    ];
    for (method, path, body, allowed) in &cases {
        for client in CLIENTS {
            let a = call(
                &app,
                Some(&tokens[client]),
                method.clone(),
                path,
                body.clone(),
                None,
            )
            .await;
            if allowed.contains(&client) {
                assert_eq!(a.status, 200, "{client} {method} {path}: {}", a.body);
            } else {
                assert_eq!(a.status, 403, "{client} {method} {path}: {}", a.body);
                assert_eq!(a.media, "application/problem+json");
                assert_eq!(a.body["status"], 403);
                assert!(
                    a.body["detail"].as_str().unwrap().contains("role"),
                    "{}",
                    a.body
                );
            }
        }
    }
    // Creating, changing and deleting users: admin and system only.
    for client in CLIENTS {
        let name = format!("made-by-{client}");
        let a = call(
            &app,
            Some(&tokens[client]),
            Method::POST,
            "/organizations/acme/users",
            Some(json!({"username": name})),
            None,
        )
        .await;
        let may = ["ops-admin", "ops-root"].contains(&client);
        assert_eq!(
            a.status,
            if may { 201 } else { 403 },
            "{client}: {}",
            a.body
        );
        let a = call(
            &app,
            Some(&tokens[client]),
            Method::PATCH,
            &user,
            Some(json!({"disabled": false})),
            Some("*"),
        )
        .await;
        assert_eq!(
            a.status,
            if may { 200 } else { 403 },
            "{client}: {}",
            a.body
        );
    }
    for client in ["ops-viewer", "ops-support", "ops-none", "ops-admin"] {
        let a = call(
            &app,
            Some(&tokens[client]),
            Method::DELETE,
            &user,
            None,
            None,
        )
        .await;
        let may = client == "ops-admin";
        assert_eq!(
            a.status,
            if may { 204 } else { 403 },
            "{client}: {}",
            a.body
        );
    }
    let a = call(
        &app,
        Some(&tokens["ops-root"]),
        Method::GET,
        &user,
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 404, "deleted: {}", a.body);
    assert_eq!(a.media, "application/problem+json");
}

async fn only_live_tokens_of_the_administration_for_this_api_are_taken(backend: Backend) {
    let app = setup(&backend).await;
    let path = "/organizations/acme/users";
    let res = app
        .client
        .get(format!("{}{path}", api(&app)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    // RFC 6750 §3.1: no error code when no credentials came.
    assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"sesame\"");
    // A token of another issuer (acme's own application), and one of the right issuer for
    // UserInfo instead of this API.
    let res = app
        .client
        .post(format!("{}/token", app.issuer("admin")))
        .basic_auth("ops-root", Some(OPS_SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let other_audience: Value = res.json().await.unwrap();
    let other_audience = other_audience["access_token"].as_str().unwrap().to_string();
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("acme-svc", Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let foreign: Value = res.json().await.unwrap();
    for bad in [
        "not-a-jwt",
        other_audience.as_str(),
        foreign["access_token"].as_str().unwrap(),
    ] {
        let res = app
            .client
            .get(format!("{}{path}", api(&app)))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        let challenge = res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            challenge.starts_with("Bearer realm=\"sesame\", error=\"invalid_token\""),
            "{challenge}"
        );
    }
    // A revoked token stops working at once.
    let root = token(&app, "ops-root").await;
    assert_eq!(
        call(&app, Some(&root), Method::GET, path, None, None)
            .await
            .status,
        200
    );
    let res = app
        .client
        .post(format!("{}/revoke", app.issuer("admin")))
        .basic_auth("ops-root", Some(OPS_SECRET))
        .form(&[("token", root.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        call(&app, Some(&root), Method::GET, path, None, None)
            .await
            .status,
        401
    );
    // Unknown routes and organizations answer with problems too.
    let admin = token(&app, "ops-admin").await;
    let a = call(&app, Some(&admin), Method::GET, "/nothing-here", None, None).await;
    assert_eq!(
        (a.status, a.media.as_str()),
        (404, "application/problem+json")
    );
    // Unknown to the system role; refused to others, like an organization they have no role
    // in, so nobody probes for names.
    let a = call(
        &app,
        Some(&admin),
        Method::GET,
        "/organizations/nope/users",
        None,
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.media.as_str()),
        (403, "application/problem+json")
    );
    let root = token(&app, "ops-root").await;
    let a = call(
        &app,
        Some(&root),
        Method::GET,
        "/organizations/nope/users",
        None,
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.media.as_str()),
        (404, "application/problem+json")
    );
}

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

/// Signs in to `client_id` of the `admin` organization as `username` (passing the SMS code
/// when the application asks for one) and returns an access token for the API.
async fn administrator_token(
    app: &TestApp,
    client_id: &str,
    username: &str,
    password: &str,
) -> String {
    let mut url = url::Url::parse(&format!("{}/authorize", app.issuer("admin"))).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", CONSOLE_CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("resource", &api(app));
    let browser = Browser::default();
    let mut res = browser
        .authorize_and_sign_in(url.as_str(), username, password)
        .await;
    assert_eq!(res.status(), 303);
    let next = location(&res);
    if next.contains("/otp?tx=") {
        let page = browser.client.get(&next).send().await.unwrap();
        assert_eq!(page.status(), 200);
        res = submit(&browser, &next, &[("code", &last_code(app))]).await;
        assert_eq!(res.status(), 303);
    }
    let code = query_of(&location(&res))["code"].clone();
    let res = app
        .client
        .post(format!("{}/token", app.issuer("admin")))
        .basic_auth(client_id, Some(OPS_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", CONSOLE_CB),
        ])
        .send()
        .await
        .unwrap();
    let tokens: Value = res.json().await.unwrap();
    tokens["access_token"]
        .as_str()
        .expect("an access token")
        .to_string()
}

async fn an_administrator_signs_in_with_a_second_factor_and_acts_with_their_role(backend: Backend) {
    let app = setup(&backend).await;
    // A role and an organization that do not go together create nobody.
    let out = app.cli(&[
        "admin",
        "create",
        "--username",
        "alice",
        "--org",
        "acme",
        "--role",
        "system",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("system role"), "{}", stderr(&out));
    let out = app.cli(&[
        "admin",
        "create",
        "--username",
        "alice",
        "--phone",
        "+44 7400 900777",
        "--org",
        "acme",
        "--role",
        "support",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    let password = printed
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .unwrap_or_else(|| panic!("{printed}"))
        .to_string();
    // A sign-in with the password alone is not enough for the API.
    let one_factor = administrator_token(&app, "console-pwd", "alice", &password).await;
    let res = app
        .client
        .get(format!("{}/organizations/acme/users", api(&app)))
        .bearer_auth(&one_factor)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains("error=\"insufficient_user_authentication\""),
        "{challenge}"
    );

    let alice = administrator_token(&app, "console-test", "alice", &password).await;
    let bob = user_id(&app, &alice, "bob").await;
    let a = call(
        &app,
        Some(&alice),
        Method::POST,
        &format!("/organizations/acme/users/{bob}/unlock"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = call(
        &app,
        Some(&alice),
        Method::DELETE,
        &format!("/organizations/acme/users/{bob}"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 403, "support deletes no one");
    let entry = audit(&app)
        .await
        .into_iter()
        .find(|e| e["action"] == "user.unlock")
        .unwrap();
    assert_eq!(entry["actor_name"], "alice");
    assert!(entry["actor"].as_str().unwrap().starts_with("user:"));
    // The grant made at the command line is audited in acme's log, by the operator.
    let grant = audit(&app)
        .await
        .into_iter()
        .find(|e| e["action"] == "role.grant" && e["changes"]["role"]["after"] == "support")
        .expect("the grant");
    assert_eq!(grant["via"], "cli");
    assert_eq!(grant["actor"], "operator");

    // A role over the administration organization does not reach its administrators: changing
    // them takes the system role.
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
    let owner = token(&app, "ops-admin").await;
    let a = call(
        &app,
        Some(&owner),
        Method::GET,
        "/organizations/admin/users?username=alice",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let alice_id = a.body["items"][0]["id"].as_str().unwrap().to_string();
    let at = format!("/organizations/admin/users/{alice_id}");
    for (method, path, body) in [
        (
            Method::PUT,
            format!("{at}/password"),
            Some(json!({"password": "taken-over-password"})),
        ),
        (
            Method::PATCH,
            at.clone(),
            Some(json!({"phone_number": "+44 7400 900666"})),
        ),
        (Method::POST, format!("{at}/reset-factors"), None),
        (Method::DELETE, at.clone(), None),
    ] {
        let a = call(&app, Some(&owner), method.clone(), &path, body, Some("*")).await;
        assert_eq!(a.status, 403, "{method} {path}: {}", a.body);
    }
    // The system role may; nobody deletes or disables themselves.
    let out = app.cli(&["admin", "grant", "--username", "alice", "--role", "system"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let a = call(&app, Some(&alice), Method::DELETE, &at, None, None).await;
    assert_eq!(a.status, 409, "{}", a.body);
    let a = call(
        &app,
        Some(&alice),
        Method::PATCH,
        &at,
        Some(json!({"disabled": true})),
        Some("*"),
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.body);
    let root = token(&app, "ops-root").await;
    let a = call(
        &app,
        Some(&root),
        Method::POST,
        &format!("{at}/end-sessions"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = call(
        &app,
        Some(&alice),
        Method::GET,
        "/organizations/acme/users",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 401, "alice's sessions ended: {}", a.body);

    // Taken back, a role no longer opens anything.
    let out = app.cli(&[
        "admin",
        "revoke",
        "--client",
        "ops-support",
        "--org",
        "acme",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let support = token(&app, "ops-support").await;
    let a = call(
        &app,
        Some(&support),
        Method::GET,
        "/organizations/acme/users",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 403);
    // The command line refuses what makes no sense.
    let out = app.cli(&["admin", "grant", "--username", "alice", "--role", "admin"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("system role"), "{}", stderr(&out));
    let out = app.cli(&[
        "admin",
        "grant",
        "--username",
        "nobody",
        "--org",
        "acme",
        "--role",
        "admin",
    ]);
    assert!(!out.status.success());
}

async fn the_openapi_document_describes_every_operation(backend: Backend) {
    let app = setup(&backend).await;
    let (status, doc) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["servers"][0]["url"], app.address.as_str());
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        assert!(path.starts_with("/api/v1/organizations"), "{path}");
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            operations += 1;
            for status in ["401", "403", "404"] {
                assert_eq!(
                    op["responses"][status]["content"]["application/problem+json"]["schema"]["$ref"],
                    "#/components/schemas/Problem",
                    "{method} {path} {status}"
                );
            }
            assert!(op["summary"].is_string(), "{method} {path}");
        }
    }
    assert_eq!(operations, 19);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Secrets are write-only in the schemas.
    assert_eq!(
        doc["components"]["schemas"]["NewUser"]["properties"]["password"]["writeOnly"],
        true
    );
    let res = app.get("/api/docs").await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Unlock an account") && html.contains("reset-factors"),
        "{html}"
    );
    assert!(!html.contains("<script"), "no script");
}

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

async fn the_demo_has_a_service_application_for_the_api(backend: Backend) {
    use sesame::demo;
    let app = TestApp::spawn(&backend).await;
    let recorder = sesame::admin::audit::Recorder::new(
        &app.state.settings,
        sesame::admin::Actor::operator(sesame::admin::Via::Import),
    );
    demo::seed(&mut app.db.get().unwrap(), app.state.keys.kek(), &recorder)
        .unwrap()
        .expect("seeded");
    let res = app
        .client
        .post(format!("{}/token", app.issuer("admin")))
        .basic_auth(demo::DEMO_OPS_CLIENT_ID, Some(demo::DEMO_OPS_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", api(&app).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let ops = body["access_token"].as_str().unwrap().to_string();
    let a = call(
        &app,
        Some(&ops),
        Method::GET,
        "/organizations/demo/users",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let names: Vec<&str> = a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, [demo::DEMO_USERNAME, demo::DEMO_NEW_USERNAME]);
    let banner = demo::banner(&app.address, None);
    assert!(
        banner.contains(&format!("{}/api/docs", app.address)),
        "{banner}"
    );
    assert!(banner.contains(demo::DEMO_OPS_SECRET), "{banner}");
}

both_backends!(
    every_role_may_do_what_it_allows_and_no_more,
    only_live_tokens_of_the_administration_for_this_api_are_taken,
    an_unlocked_user_signs_in_again_and_the_unlock_is_audited,
    a_change_needs_the_version_it_was_read_at,
    support_resets_factors_and_ends_sessions,
    users_are_created_found_page_by_page_and_deleted,
    an_administrator_signs_in_with_a_second_factor_and_acts_with_their_role,
    the_openapi_document_describes_every_operation,
    organizations_and_applications_are_read_within_the_roles,
    imports_are_audited_change_by_change,
    the_demo_has_a_service_application_for_the_api,
    keys_are_listed_rotated_and_retired,
    events_are_listed_and_redelivered
);
