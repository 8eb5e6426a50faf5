//! RP-initiated logout.

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, acme_toml, form_field, location, query_of};

const WEB_SECRET: &str = "an-acme-client-secret-of-forty-characters";
const WEB_CB: &str = "https://app.acme.example/callback";
const AFTER: &str = "https://app.acme.example/signed-out";

async fn setup(backend: &Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.import(&acme_toml().replace(
        "redirect_uris = [\"https://app.acme.example/callback\"]",
        &format!("redirect_uris = [\"{WEB_CB}\"]\npost_logout_redirect_uris = [\"{AFTER}\"]"),
    ));
    app
}

fn auth_url(app: &TestApp, extra: &str) -> String {
    format!(
        "{}/authorize?client_id=acme-web&redirect_uri={}&response_type=code&scope=openid{extra}",
        app.issuer("acme"),
        urlencode(WEB_CB)
    )
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Signs in and exchanges the code: the browser has a session; returns the token response.
async fn signed_in(app: &TestApp, browser: &Browser) -> Value {
    let res = browser
        .authorize_and_sign_in(&auth_url(app, ""), "bob", "bobs-long-password")
        .await;
    let code = query_of(&location(&res))["code"].clone();
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("acme-web", Some(WEB_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", WEB_CB),
        ])
        .send()
        .await
        .unwrap();
    res.json().await.unwrap()
}

/// No live session is left in the database (the cookie alone going away would not show this),
/// and the browser is asked to sign in again.
async fn session_is_gone(app: &TestApp, browser: &Browser) -> bool {
    use diesel::prelude::*;
    use sesame::store::schema::sessions;
    let live: i64 = sessions::table
        .filter(sessions::ended_at.is_null())
        .count()
        .get_result(&mut *app.db.get().unwrap())
        .unwrap();
    let res = browser
        .client
        .get(auth_url(app, "&prompt=none"))
        .send()
        .await
        .unwrap();
    live == 0
        && query_of(&location(&res)).get("error").map(String::as_str) == Some("login_required")
}

async fn logout_with_a_hint_redirects_and_ends_the_session(backend: Backend) {
    let app = setup(&backend).await;
    let browser = Browser::default();
    let tokens = signed_in(&app, &browser).await;
    // The logout URL as the openidconnect crate builds it from the discovered end_session_endpoint.
    let http = openidconnect::reqwest::Client::new();
    let meta = openidconnect::ProviderMetadataWithLogout::discover_async(
        openidconnect::IssuerUrl::new(app.issuer("acme")).unwrap(),
        &http,
    )
    .await
    .expect("discovery with logout metadata");
    let end_session = meta
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("end_session_endpoint");
    let id_token: openidconnect::core::CoreIdToken =
        tokens["id_token"].as_str().unwrap().parse().unwrap();
    let url = openidconnect::LogoutRequest::from(end_session)
        .set_id_token_hint(&id_token)
        .set_post_logout_redirect_uri(
            openidconnect::PostLogoutRedirectUrl::new(AFTER.into()).unwrap(),
        )
        .set_state(openidconnect::CsrfToken::new("bye".into()))
        .http_get_url();
    let res = browser.client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{AFTER}?state=bye"));
    assert!(session_is_gone(&app, &browser).await);
    let res = app
        .client
        .get(format!("{}/userinfo", app.issuer("acme")))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "the session's tokens are revoked");
}

async fn an_expired_hint_is_accepted_but_a_forged_one_is_not(backend: Backend) {
    let app = setup(&backend).await;
    let browser = Browser::default();
    signed_in(&app, &browser).await;
    // An ID token that expired an hour ago, signed by the organization's key.
    let expired = app
        .sign_id_token("acme", "someone", "acme-web", sesame::store::now() - 7200)
        .await;
    let url = |hint: &str| {
        format!(
            "{}/logout?id_token_hint={hint}&post_logout_redirect_uri={}",
            app.issuer("acme"),
            urlencode(AFTER)
        )
    };
    // Its subject is not the session's user: Sesame asks before signing anyone out.
    let res = browser.client.get(url(&expired)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("Sign out?"));
    // A tampered signature: an error page, no redirect.
    let forged = format!("{}x", &expired[..expired.len() - 1]);
    let res = browser.client.get(url(&forged)).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    assert!(!session_is_gone(&app, &browser).await);
}

async fn unregistered_post_logout_redirect_uri_is_refused(backend: Backend) {
    let app = setup(&backend).await;
    for query in [
        format!(
            "client_id=acme-web&post_logout_redirect_uri={}",
            urlencode("https://evil.example/")
        ),
        format!("post_logout_redirect_uri={}", urlencode(AFTER)),
    ] {
        let res = app
            .client
            .get(format!("{}/logout?{query}", app.issuer("acme")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{query}");
        assert!(res.headers().get("location").is_none());
    }
}

async fn without_a_hint_the_user_confirms(backend: Backend) {
    let app = setup(&backend).await;
    let browser = Browser::default();
    signed_in(&app, &browser).await;
    let res = browser
        .client
        .get(format!(
            "{}/logout?client_id=acme-web&post_logout_redirect_uri={}&state=s",
            app.issuer("acme"),
            urlencode(AFTER)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        !session_is_gone(&app, &browser).await,
        "nothing ends before the user confirms"
    );
    let confirm = format!("{}/logout/confirm", app.issuer("acme"));
    let res = browser
        .client
        .post(&confirm)
        .form(&[("client_id", "acme-web")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "no CSRF token");
    let form = [
        ("csrf", form_field(&html, "csrf").unwrap()),
        ("client_id", "acme-web".to_string()),
        ("post_logout_redirect_uri", AFTER.to_string()),
        ("state", "s".to_string()),
    ];
    let res = browser
        .client
        .post(&confirm)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{AFTER}?state=s"));
    assert!(session_is_gone(&app, &browser).await);
}

both_backends!(
    logout_with_a_hint_redirects_and_ends_the_session,
    an_expired_hint_is_accepted_but_a_forged_one_is_not,
    unregistered_post_logout_redirect_uri_is_refused,
    without_a_hint_the_user_confirms,
);
