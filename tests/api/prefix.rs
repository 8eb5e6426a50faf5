//! A base URL with a path prefix (`http://host:port/id`): every route, issuer, form, redirect
//! and cookie sits under it; the health endpoints also answer at the root.

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, TestDb, acme_toml, location, query_of, test_env};

const CB: &str = "https://app.acme.example/callback";

async fn a_sign_in_under_a_path_prefix(backend: Backend) {
    let test_db = TestDb::new(&backend);
    let mut env = test_env(&test_db.url, test_db.dir.path());
    env.insert("SESAME_TEST_BASE_PATH".into(), "/id".into());
    let app = TestApp::spawn_with(test_db, env).await;
    app.import(&acme_toml());
    let issuer = format!("{}/id/t/acme", app.address);

    let res = app
        .client
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let discovery: Value = res.json().await.unwrap();
    assert_eq!(discovery["issuer"], issuer.as_str());
    assert_eq!(discovery["token_endpoint"], format!("{issuer}/token"));
    // Nothing is served outside the prefix but the health endpoints.
    let outside = app
        .client
        .get(format!(
            "{}/t/acme/.well-known/openid-configuration",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), 404);
    for path in ["/healthz", "/id/healthz", "/readyz", "/id/readyz"] {
        let res = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }

    // The whole browser flow: the pages, their forms and the cookies live under the prefix.
    let browser = Browser::default();
    let auth_url = format!(
        "{issuer}/authorize?client_id=acme-web&response_type=code&scope=openid&state=s&redirect_uri={}",
        url::form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>()
    );
    let first = browser.client.get(&auth_url).send().await.unwrap();
    assert_eq!(first.status(), 303);
    let login = location(&first);
    assert!(login.starts_with(&format!("{issuer}/login?tx=")), "{login}");
    let cookie = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("sesame_browser="))
        .expect("a browser cookie")
        .to_string();
    assert!(cookie.contains("Path=/id/t/acme/"), "{cookie}");
    let res = browser.sign_in(&login, "bob", "bobs-long-password").await;
    assert_eq!(res.status(), 303);
    let back = location(&res);
    assert!(back.starts_with(CB), "{back}");
    let query = query_of(&back);
    assert_eq!(query["iss"], issuer);
    let token = app
        .client
        .post(format!("{issuer}/token"))
        .basic_auth(
            "acme-web",
            Some("an-acme-client-secret-of-forty-characters"),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", query["code"].as_str()),
            ("redirect_uri", CB),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    let body: Value = token.json().await.unwrap();
    let claims = crate::helpers::payload(body["id_token"].as_str().unwrap());
    assert_eq!(claims["iss"], issuer.as_str());
}

both_backends!(a_sign_in_under_a_path_prefix);
