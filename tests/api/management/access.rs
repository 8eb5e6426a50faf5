//! Who may call the management API: the role matrix, the tokens it refuses, an administrator
//! signing in with a second factor, the OpenAPI document, the demo's service application.

use super::*;

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
    assert_eq!(operations, 32);
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Secrets are write-only in the schemas.
    assert_eq!(
        doc["components"]["schemas"]["NewUser"]["properties"]["password"]["writeOnly"],
        true
    );
    assert_eq!(
        doc["components"]["schemas"]["AppSpec"]["properties"]["client_secret"]["writeOnly"],
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
    an_administrator_signs_in_with_a_second_factor_and_acts_with_their_role,
    the_openapi_document_describes_every_operation,
    the_demo_has_a_service_application_for_the_api,
);
