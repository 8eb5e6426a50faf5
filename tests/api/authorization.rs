//! The authorization code flow end to end, with the `openidconnect` crate as a strict relying
//! party, and one test per failure the flow must refuse.

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope,
    TokenResponse,
};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{
    Backend, Browser, TestApp, TestDb, acme_toml, form_field, location, payload, query_of, test_env,
};

const WEB_SECRET: &str = "an-acme-client-secret-of-forty-characters";
const WEB_CB: &str = "https://app.acme.example/callback";
const SPA_CB: &str = "https://spa.acme.example/callback";

fn http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::Client::builder()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn client(
    app: &TestApp,
    client_id: &str,
    secret: Option<&str>,
    redirect: &str,
) -> openidconnect::core::CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
> {
    let meta =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.issuer("acme")).unwrap(), &http())
            .await
            .expect("discovery is accepted by openidconnect");
    CoreClient::from_provider_metadata(
        meta,
        ClientId::new(client_id.into()),
        secret.map(|s| ClientSecret::new(s.into())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap())
}

async fn setup(backend: &Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.import(&acme_toml());
    app
}

/// A manual authorization URL for cases the client library will not build.
fn auth_url(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{}/authorize", app.issuer("acme"))).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "acme-web")
        .append_pair("redirect_uri", WEB_CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid email");
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    url.to_string()
}

/// Signs in through a manual URL and returns the code.
async fn code_via(browser: &Browser, url: &str) -> String {
    let res = browser
        .authorize_and_sign_in(url, "bob", "bobs-long-password")
        .await;
    let params = query_of(&location(&res));
    params
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code: {params:?}"))
}

/// Exchanges a code of acme-web for tokens (status and body).
async fn exchange(app: &TestApp, code: &str) -> (u16, Value) {
    post_token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", WEB_CB),
        ],
    )
    .await
}

async fn post_token(app: &TestApp, form: &[(&str, &str)]) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("acme-web", Some(WEB_SECRET))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn code_flow_with_a_strict_relying_party(backend: Backend) {
    let app = setup(&backend).await;
    let oidc = client(&app, "acme-web", Some(WEB_SECRET), WEB_CB).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = oidc
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("phone".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = Browser::default();
    let res = browser
        .authorize_and_sign_in(url.as_str(), "bob", "bobs-long-password")
        .await;
    assert_eq!(res.status(), 303);
    let back = location(&res);
    assert!(back.starts_with(WEB_CB), "{back}");
    let params = query_of(&back);
    assert_eq!(params["state"], *state.secret());
    assert_eq!(params["iss"], app.issuer("acme"), "RFC 9207 iss");

    let http = http();
    let tokens = oidc
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code exchange is accepted");
    let id_token = tokens.id_token().expect("an ID token");
    let id_verifier = oidc.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("the ID token verifies (signature, iss, aud, nonce, exp)");
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash), "at_hash");
    assert!(claims.auth_time().is_some());
    let raw = payload(&id_token.to_string());
    assert_eq!(raw["amr"], serde_json::json!(["pwd"]));
    assert_eq!(raw["azp"], "acme-web");
    assert!(raw["sid"].is_string());
    let sub = claims.subject().to_string();
    assert!(uuid::Uuid::parse_str(&sub).is_ok(), "sub is the opaque id");

    let info: CoreUserInfoClaims = oidc
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo answers");
    assert_eq!(info.subject().as_str(), sub);
    assert_eq!(info.email().unwrap().as_str(), "bob@acme.example");
    assert_eq!(info.phone_number().unwrap().as_str(), "+447400900123");
    assert!(info.given_name().is_none(), "profile was not requested");

    // Refresh: a new ID token for the same authentication, without the nonce.
    let refresh = tokens.refresh_token().expect("a refresh token").clone();
    let refreshed = oidc
        .exchange_refresh_token(&refresh)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh works");
    let new_token = refreshed.id_token().unwrap();
    new_token
        .claims(&id_verifier, |_: Option<&Nonce>| Ok(()))
        .expect("the refreshed ID token verifies");
    let new_id = payload(&new_token.to_string());
    assert_eq!(new_id["sub"], raw["sub"]);
    assert_eq!(new_id["auth_time"], raw["auth_time"]);
    assert_eq!(new_id["amr"], raw["amr"]);
    assert!(new_id.get("nonce").is_none());
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        refresh.secret(),
        "rotated"
    );

    // Reusing the rotated refresh token revokes the whole family.
    let reuse = oidc
        .exchange_refresh_token(&refresh)
        .unwrap()
        .request_async(&http)
        .await;
    assert!(reuse.is_err(), "a used refresh token is refused");
    let newest = RefreshToken::new(refreshed.refresh_token().unwrap().secret().clone());
    assert!(
        oidc.exchange_refresh_token(&newest)
            .unwrap()
            .request_async(&http)
            .await
            .is_err(),
        "the family is revoked"
    );
    let info = oidc.user_info(refreshed.access_token().clone(), None).unwrap().request_async::<openidconnect::EmptyAdditionalClaims, _, openidconnect::core::CoreGenderClaim>(&http).await;
    assert!(
        info.is_err(),
        "access tokens of the revoked grant stop working"
    );
}

async fn public_client_needs_pkce(backend: Backend) {
    let app = setup(&backend).await;
    let browser = Browser::default();
    let mut url = url::Url::parse(&format!("{}/authorize", app.issuer("acme"))).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "acme-spa")
        .append_pair("redirect_uri", SPA_CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "s1");
    let res = browser.client.get(url.as_str()).send().await.unwrap();
    let params = query_of(&location(&res));
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(params["state"], "s1");

    let oidc = client(&app, "acme-spa", None, SPA_CB).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = oidc
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let res = browser
        .authorize_and_sign_in(url.as_str(), "bob", "bobs-long-password")
        .await;
    let code = query_of(&location(&res))["code"].clone();
    let tokens = oidc
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http())
        .await
        .expect("a public client authenticates with PKCE alone");
    tokens
        .id_token()
        .unwrap()
        .claims(&oidc.id_token_verifier(), &nonce)
        .unwrap();
}

async fn code_reuse_fails_and_revokes_its_tokens(backend: Backend) {
    let app = setup(&backend).await;
    let code = code_via(&Browser::default(), &auth_url(&app, &[])).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_CB),
    ];
    let (status, first) = post_token(&app, &form).await;
    assert_eq!(status, 200, "{first}");
    let access = first["access_token"].as_str().unwrap();
    let userinfo = |token: String| {
        let c = app.client.clone();
        let url = format!("{}/userinfo", app.issuer("acme"));
        async move { c.get(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(userinfo(access.into()).await.status(), 200);

    // UserInfo also takes the token in a form body (RFC 6750 §2.2).
    let res = app
        .client
        .post(format!("{}/userinfo", app.issuer("acme")))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["email"],
        "bob@acme.example"
    );

    // A refresh may narrow the scope of what it issues, never widen it.
    let refresh = first["refresh_token"].as_str().unwrap().to_string();
    let (status, narrowed) = post_token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{narrowed}");
    assert_eq!(narrowed["scope"], "openid");
    assert_eq!(
        payload(narrowed["access_token"].as_str().unwrap())["scope"],
        "openid"
    );
    // UserInfo releases what the narrowed token's scope allows, not what the grant holds.
    let res = userinfo(narrowed["access_token"].as_str().unwrap().into()).await;
    assert_eq!(res.status(), 200);
    let info = res.json::<Value>().await.unwrap();
    assert!(info.get("email").is_none(), "{info}");
    assert!(info["sub"].is_string());
    let (status, wider) = post_token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", narrowed["refresh_token"].as_str().unwrap()),
            ("scope", "openid phone"),
        ],
    )
    .await;
    assert_eq!(
        (status, wider["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    let (status, second) = post_token(&app, &form).await;
    assert_eq!(status, 400);
    assert_eq!(second["error"], "invalid_grant");
    let res = userinfo(access.into()).await;
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let (status, refreshed) = post_token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(
        (status, refreshed["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

async fn wrong_pkce_verifier_or_redirect_uri_is_refused(backend: Backend) {
    let app = setup(&backend).await;
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let other = PkceCodeVerifier::new("x".repeat(50));
    let url = auth_url(
        &app,
        &[
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    );
    let code = code_via(&Browser::default(), &url).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_CB),
        ("code_verifier", other.secret()),
    ];
    let (status, body) = post_token(&app, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://app.acme.example/other"),
    ];
    let (status, body) = post_token(&app, &form).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // A wrong client secret is invalid_client with a Basic challenge.
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("acme-web", Some("wrong-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
}

async fn unregistered_redirect_uri_shows_a_page_and_never_redirects(backend: Backend) {
    let app = setup(&backend).await;
    let mut url = url::Url::parse(&auth_url(&app, &[])).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let value = if k == "redirect_uri" {
                "https://evil.example/cb".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), value)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let res = app.client.get(url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains("redirect_uri is not registered"), "{html}");

    let res = app
        .client
        .get(format!(
            "{}/authorize?client_id=nobody&redirect_uri={WEB_CB}",
            app.issuer("acme")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.headers().get("location").is_none());
}

async fn prompt_none_and_max_age_follow_the_session(backend: Backend) {
    let app = setup(&backend).await;
    let browser = Browser::default();
    // No session yet: prompt=none answers login_required to the client.
    let res = browser
        .client
        .get(auth_url(&app, &[("prompt", "none"), ("state", "st")]))
        .send()
        .await
        .unwrap();
    let params = query_of(&location(&res));
    assert_eq!(params["error"], "login_required");
    assert_eq!(params["state"], "st");
    assert_eq!(params["iss"], app.issuer("acme"));

    code_via(&browser, &auth_url(&app, &[])).await;
    // Now the session answers silently.
    let res = browser
        .client
        .get(auth_url(&app, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert!(query_of(&location(&res)).contains_key("code"));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    // A max_age shorter than the session's age forces a new sign-in; a long one does not.
    let res = browser
        .client
        .get(auth_url(&app, &[("max_age", "1")]))
        .send()
        .await
        .unwrap();
    assert!(location(&res).contains("/login?tx="), "{}", location(&res));
    let res = browser
        .client
        .get(auth_url(&app, &[("max_age", "3600")]))
        .send()
        .await
        .unwrap();
    let code = query_of(&location(&res))["code"].clone();
    let (_, tokens) = exchange(&app, &code).await;
    let claims = payload(tokens["id_token"].as_str().unwrap());
    assert!(
        claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap() - 2,
        "the session's auth_time is reused"
    );
    // prompt=login forces a new sign-in, and a later auth_time.
    let res = browser
        .client
        .get(auth_url(&app, &[("prompt", "login")]))
        .send()
        .await
        .unwrap();
    let login = location(&res);
    assert!(login.contains("/login?tx="));
    let res = browser.sign_in(&login, "bob", "bobs-long-password").await;
    let code = query_of(&location(&res))["code"].clone();
    let (_, tokens) = exchange(&app, &code).await;
    let again = payload(tokens["id_token"].as_str().unwrap());
    assert!(
        again["auth_time"].as_i64().unwrap() > claims["auth_time"].as_i64().unwrap(),
        "{again} vs {claims}"
    );
}

async fn sign_in_form_needs_its_csrf_token_and_its_browser(backend: Backend) {
    let app = setup(&backend).await;
    let browser = Browser::default();
    let res = browser
        .client
        .get(auth_url(&app, &[]))
        .send()
        .await
        .unwrap();
    let login = location(&res);
    let html = browser
        .client
        .get(&login)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let tx = form_field(&html, "tx").unwrap();
    let action = login.split('?').next().unwrap().to_string();
    let res = browser
        .client
        .post(&action)
        .form(&[
            ("tx", tx.as_str()),
            ("username", "bob"),
            ("password", "bobs-long-password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "no CSRF token");
    assert!(res.text().await.unwrap().contains("The form has expired"));

    // Another browser (without the binding cookie) cannot use the transaction.
    let other = Browser::default();
    let res = other.client.get(&login).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("another browser"));
}

async fn wrong_password_and_unknown_user_look_the_same_and_both_hash(backend: Backend) {
    let app = setup(&backend).await;
    let mut pages = Vec::new();
    for (user, password) in [
        ("bob", "not-the-password"),
        ("nobody-here", "whatever-password"),
    ] {
        let browser = Browser::default();
        let login = location(
            &browser
                .client
                .get(auth_url(&app, &[]))
                .send()
                .await
                .unwrap(),
        );
        let before = app.state.hasher.verifications();
        let res = browser.sign_in(&login, user, password).await;
        assert_eq!(
            app.state.hasher.verifications(),
            before + 1,
            "one argon2 verification for {user}"
        );
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        assert!(html.contains("Wrong username or password."));
        // Pages differ only in the echoed username and the fresh tokens.
        let normalized = html
            .replace(user, "USER")
            .replace(&form_field(&html, "tx").unwrap(), "TX")
            .replace(&form_field(&html, "csrf").unwrap(), "CSRF");
        pages.push(normalized);
    }
    assert_eq!(pages[0], pages[1]);
}

async fn form_post_response_mode_posts_back_to_the_client(backend: Backend) {
    let app = setup(&backend).await;
    let res = Browser::default()
        .authorize_and_sign_in(
            &auth_url(&app, &[("response_mode", "form_post"), ("state", "fp")]),
            "bob",
            "bobs-long-password",
        )
        .await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&format!("action=\"{}\"", WEB_CB.replace('/', "&#x2f;")))
            || html.contains(&format!("action=\"{WEB_CB}\"")),
        "{html}"
    );
    assert_eq!(form_field(&html, "state").as_deref(), Some("fp"));
    assert!(form_field(&html, "code").is_some());
    assert!(form_field(&html, "iss").is_some());
    assert!(csp.contains("script-src 'nonce-"), "{csp}");
}

async fn setup_with_policy(backend: &Backend, policy: &str) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.import(&acme_toml().replace(
        "display_name = \"Acme Corp\"\n",
        &format!("display_name = \"Acme Corp\"\n[organizations.lock_policy]\n{policy}\n"),
    ));
    app
}

async fn repeated_failures_lock_the_account_until_the_duration_passes(backend: Backend) {
    let app = setup_with_policy(&backend, "max_attempts = 3\nduration_seconds = 2").await;
    let browser = Browser::default();
    let attempt = |password: &'static str| {
        let (browser, url) = (browser.clone(), auth_url(&app, &[]));
        async move {
            let login = location(&browser.client.get(&url).send().await.unwrap());
            browser.sign_in(&login, "bob", password).await
        }
    };
    for _ in 0..3 {
        let html = attempt("wrong-password").await.text().await.unwrap();
        assert!(html.contains("Wrong username or password."));
    }
    // The right password now: the lock shows, with its end, since the password was verified.
    let res = attempt("bobs-long-password").await;
    assert_eq!(res.status(), 403);
    let html = res.text().await.unwrap();
    let wrong = attempt("still-wrong-password").await;
    assert_eq!(
        wrong.status(),
        403,
        "a wrong guess during the lock gets the same answer"
    );
    let normalize = |h: &str| h.split("Try again after").next().unwrap().to_string();
    assert_eq!(normalize(&wrong.text().await.unwrap()), normalize(&html));
    assert!(
        html.contains("Account locked") && html.contains("Try again after"),
        "{html}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let res = attempt("bobs-long-password").await;
    assert_eq!(res.status(), 303, "unlocked after the duration");
    assert!(location(&res).starts_with(WEB_CB));
}

async fn attempts_during_a_lock_neither_extend_nor_renew_it(backend: Backend) {
    // The lock outlasts eight hashed attempts however loaded the machine (a 2-second lock ran
    // out during them once, on a machine at load 8).
    let app = setup_with_policy(&backend, "max_attempts = 3\nduration_seconds = 6").await;
    let browser = Browser::default();
    let attempt = |password: &'static str| {
        let (browser, url) = (browser.clone(), auth_url(&app, &[]));
        async move {
            let login = location(&browser.client.get(&url).send().await.unwrap());
            browser.sign_in(&login, "bob", password).await.status()
        }
    };
    for _ in 0..3 {
        assert_eq!(attempt("wrong-password").await, 200);
    }
    // Someone keeps trying during the lock, right and wrong: refused, and not counted.
    for password in ["wrong-password", "bobs-long-password"].repeat(4) {
        assert_eq!(attempt(password).await, 403);
    }
    tokio::time::sleep(std::time::Duration::from_millis(6200)).await;
    // The first attempt after the lock is not a new, longer lock.
    assert_eq!(attempt("bobs-long-password").await, 303);
}

/// A browser whose requests come through the trusted proxy on behalf of `ip`.
fn browser_at(ip: &str) -> Browser {
    Browser::with_headers(&[("x-forwarded-for", ip)])
}

async fn smart_lockout_keeps_the_owner_in_while_strangers_are_locked_out(backend: Backend) {
    let test_db = TestDb::new(&backend);
    let mut env = test_env(&test_db.url, test_db.dir.path());
    env.insert("SESAME_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
    let app = TestApp::spawn_with(test_db, env).await;
    app.import(&acme_toml().replace(
        "display_name = \"Acme Corp\"\n",
        "display_name = \"Acme Corp\"\n[organizations.lock_policy]\nmax_attempts = 3\n\
         smart = true\naccount_daily_ceiling = 7\n",
    ));
    let attempt = |browser: &Browser, password: &'static str| {
        let (browser, url) = (browser.clone(), auth_url(&app, &[("prompt", "login")]));
        async move {
            let login = location(&browser.client.get(&url).send().await.unwrap());
            browser.sign_in(&login, "bob", password).await
        }
    };
    // The owner signs in once: the browser is one the account knows from now on.
    let owner = browser_at("198.51.100.1");
    let res = attempt(&owner, "bobs-long-password").await;
    assert_eq!(res.status(), 303);
    let device = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("sesame_device="))
        .expect("a device cookie");
    assert!(
        device.contains("HttpOnly") && device.contains("Max-Age=34560000"),
        "{device}"
    );

    // A stranger's guesses lock that stranger out, even with the right password…
    let stranger = browser_at("203.0.113.1");
    for _ in 0..3 {
        assert_eq!(attempt(&stranger, "wrong-password").await.status(), 200);
    }
    assert_eq!(attempt(&stranger, "bobs-long-password").await.status(), 403);
    // …and not the owner, nor someone else.
    assert_eq!(attempt(&owner, "bobs-long-password").await.status(), 303);
    let other = browser_at("203.0.113.2");
    assert_eq!(attempt(&other, "wrong-password").await.status(), 200);
    // Guessers from many addresses reach the account's daily ceiling (7 failures): then every
    // browser the account does not know is locked out, and the owner's still gets in.
    for ip in ["203.0.113.3", "203.0.113.4", "203.0.113.5"] {
        assert_eq!(
            attempt(&browser_at(ip), "wrong-password").await.status(),
            200
        );
    }
    let fresh = browser_at("198.51.100.9");
    assert_eq!(attempt(&fresh, "bobs-long-password").await.status(), 403);
    assert_eq!(attempt(&owner, "bobs-long-password").await.status(), 303);
}

async fn too_many_failures_from_one_address_stop_before_hashing(backend: Backend) {
    let app = setup_with_policy(&backend, "ip_max_failures = 3").await;
    let browser = Browser::default();
    for user in ["a1", "a2", "a3"] {
        let login = location(
            &browser
                .client
                .get(auth_url(&app, &[]))
                .send()
                .await
                .unwrap(),
        );
        assert_eq!(
            browser
                .sign_in(&login, user, "wrong-password")
                .await
                .status(),
            200
        );
    }
    let login = location(
        &browser
            .client
            .get(auth_url(&app, &[]))
            .send()
            .await
            .unwrap(),
    );
    let before = app.state.hasher.verifications();
    let res = browser.sign_in(&login, "bob", "bobs-long-password").await;
    assert_eq!(res.status(), 429);
    assert_eq!(
        app.state.hasher.verifications(),
        before,
        "no password was hashed"
    );
}

async fn post_as(
    app: &TestApp,
    endpoint: &str,
    client: (&str, Option<&str>),
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = app
        .client
        .post(format!("{}/{endpoint}", app.issuer("acme")));
    let mut form: Vec<(&str, &str)> = form.to_vec();
    match client.1 {
        Some(secret) => req = req.basic_auth(client.0, Some(secret)),
        None => form.push(("client_id", client.0)),
    }
    let res = req.form(&form).send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        },
    )
}

async fn revocation_and_introspection(backend: Backend) {
    let app = setup(&backend).await;
    let code = code_via(&Browser::default(), &auth_url(&app, &[])).await;
    let (_, tokens) = exchange(&app, &code).await;
    let (access, refresh) = (
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
    );
    let web = ("acme-web", Some(WEB_SECRET));

    let (status, info) = post_as(&app, "introspect", web, &[("token", access)]).await;
    assert_eq!(status, 200);
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], "acme-web");
    assert_eq!(info["scope"], "openid email");
    assert!(info["sub"].is_string());
    let (_, info) = post_as(&app, "introspect", web, &[("token", refresh)]).await;
    assert_eq!(
        (info["active"].as_bool(), info["token_type"].as_str()),
        (Some(true), Some("refresh_token"))
    );
    assert_eq!(info["client_id"], "acme-web");
    assert_eq!(info["scope"], "openid email");
    let (status, _) = post_as(&app, "introspect", ("acme-spa", None), &[("token", access)]).await;
    assert_eq!(status, 401, "public clients cannot introspect");

    // Revoking the access token ends it alone.
    assert_eq!(
        post_as(
            &app,
            "revoke",
            web,
            &[("token", access), ("token_type_hint", "access_token")]
        )
        .await
        .0,
        200
    );
    let (_, info) = post_as(&app, "introspect", web, &[("token", access)]).await;
    assert_eq!(info, serde_json::json!({ "active": false }));
    let res = app
        .client
        .get(format!("{}/userinfo", app.issuer("acme")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let (status, refreshed) = post_token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, 200, "the grant lives on: {refreshed}");

    // Revoking a refresh token ends its grant.
    let new_refresh = refreshed["refresh_token"].as_str().unwrap();
    assert_eq!(
        post_as(&app, "revoke", web, &[("token", new_refresh)])
            .await
            .0,
        200
    );
    let (status, body) = post_token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", new_refresh),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (_, info) = post_as(
        &app,
        "introspect",
        web,
        &[("token", refreshed["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(
        info["active"], false,
        "the grant's access tokens go with it"
    );
    // Unknown tokens: 200 all the same.
    assert_eq!(
        post_as(&app, "revoke", web, &[("token", "no-such-token")])
            .await
            .0,
        200
    );
}

async fn client_credentials_for_services(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let service = "\n[[organizations.applications]]\nclient_id = \"acme-svc\"\ntype = \"confidential\"\n\
        client_secret = \"a-service-secret-that-is-long-enough-1234\"\ngrant_types = [\"client_credentials\"]\n";
    app.import(&format!("{}{service}", acme_toml()));
    let svc = (
        "acme-svc",
        Some("a-service-secret-that-is-long-enough-1234"),
    );
    let (status, tokens) =
        post_as(&app, "token", svc, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens.get("id_token").is_none() && tokens.get("refresh_token").is_none());
    let (_, info) = post_as(
        &app,
        "introspect",
        svc,
        &[("token", tokens["access_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], "acme-svc");
    let (status, body) = post_as(
        &app,
        "token",
        ("acme-web", Some(WEB_SECRET)),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
}

async fn cors_allows_registered_origins_only(backend: Backend) {
    let app = setup(&backend).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/token", app.issuer("acme")),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let res = preflight("https://spa.acme.example").await.unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://spa.acme.example"
    );
    assert!(
        res.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("Authorization")
    );
    let res = preflight("https://evil.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    let res = app
        .client
        .get(format!("{}/userinfo", app.issuer("acme")))
        .header("Origin", "https://app.acme.example")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://app.acme.example",
        "errors are readable too"
    );
    let res = app
        .client
        .post(format!("{}/introspect", app.issuer("acme")))
        .header("Origin", "https://app.acme.example")
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "introspection is server-to-server"
    );
}

/// A client_credentials grant authenticated by the JWT assertion `jwt` (private_key_jwt).
async fn assertion_grant(app: &TestApp, jwt: String) -> (u16, Value) {
    let form = [
        ("grant_type", "client_credentials".to_string()),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
        ),
        ("client_assertion", jwt),
    ];
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .form(&form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json::<Value>().await.unwrap())
}

async fn weak_client_keys_and_unknown_extensions_are_refused(backend: Backend) {
    use base64::Engine;
    use sesame::keys::{Alg, Signer, jwk};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = TestApp::spawn(&backend).await;
    let client = |key: &str| {
        format!(
            "{}\n[[organizations.applications]]\nclient_id = \"acme-jwt\"\ntype = \"confidential\"\n\
             grant_types = [\"client_credentials\"]\njwks = {{ keys = [ {key} ] }}\n",
            acme_toml()
        )
    };
    // A 512-bit RSA key is refused at import, naming the rule.
    let weak = openssl::rsa::Rsa::generate(512).unwrap();
    let weak = format!(
        "{{ kty = \"RSA\", n = \"{}\", e = \"{}\" }}",
        b64.encode(weak.n().to_vec()),
        b64.encode(weak.e().to_vec())
    );
    let path = app.write_file("weak.toml", &client(&weak));
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("acme-jwt") && err.contains("2048"), "{err}");

    // A good key; an assertion whose header has a `crit` member Sesame does not understand is
    // refused like a bad signature.
    let key = Alg::ES256.generate().unwrap();
    let public = jwk::public_jwk(&key, Alg::ES256).unwrap();
    let fields: Vec<String> = public
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    app.import(&client(&format!("{{ {} }}", fields.join(", "))));
    let signer = Signer::new(key, Alg::ES256).unwrap();
    let token_endpoint = format!("{}/token", app.issuer("acme"));
    let now = sesame::store::now();
    let assertion = |jti: &str, header: Value| {
        let claims = serde_json::json!({ "iss": "acme-jwt", "sub": "acme-jwt", "aud": token_endpoint, "jti": jti, "iat": now, "exp": now + 120 });
        signer
            .sign_with_header(&header, claims.to_string().as_bytes())
            .unwrap()
    };
    let exchange = |jwt: String| assertion_grant(&app, jwt);
    let kid = signer.kid.clone();
    let crit = assertion(
        "c1",
        serde_json::json!({ "kid": kid, "crit": ["urn:example:policy"], "urn:example:policy": 1 }),
    );
    let (status, body) = exchange(crit).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
    let (status, body) = exchange(assertion("c2", serde_json::json!({ "kid": kid }))).await;
    assert_eq!(status, 200, "{body}");
}

async fn private_key_jwt_clients_sign_single_use_assertions(backend: Backend) {
    use sesame::keys::{Alg, Signer, jwk};
    let app = TestApp::spawn(&backend).await;
    let key = Alg::ES256.generate().unwrap();
    let public = jwk::public_jwk(&key, Alg::ES256).unwrap();
    let signer = Signer::new(key, Alg::ES256).unwrap();
    let fields: Vec<String> = public
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    let client = format!(
        "\n[[organizations.applications]]\nclient_id = \"acme-jwt\"\ntype = \"confidential\"\ngrant_types = [\"client_credentials\"]\njwks = {{ keys = [ {{ {} }} ] }}\n",
        fields.join(", ")
    );
    let out = app.import(&format!("{}{client}", acme_toml()));
    assert!(
        !out.contains("client secret of application acme/acme-jwt"),
        "no secret for a key client: {out}"
    );

    let now = sesame::store::now();
    let assertion = |aud: &str, jti: &str, signer: &Signer| {
        let claims = serde_json::json!({ "iss": "acme-jwt", "sub": "acme-jwt", "aud": aud, "jti": jti, "iat": now, "exp": now + 120 });
        signer
            .sign_compact("JWT", claims.to_string().as_bytes())
            .unwrap()
    };
    let token_endpoint = format!("{}/token", app.issuer("acme"));
    let exchange = |jwt: String| assertion_grant(&app, jwt);
    let good = assertion(&token_endpoint, "one", &signer);
    let (status, body) = exchange(good.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());
    let (status, body) = exchange(good).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "a replayed assertion"
    );
    // The issuer is an accepted audience too; anything else is not.
    assert_eq!(
        exchange(assertion(&app.issuer("acme"), "two", &signer))
            .await
            .0,
        200
    );
    assert_eq!(
        exchange(assertion(
            "https://elsewhere.example/token",
            "three",
            &signer
        ))
        .await
        .0,
        401
    );
    // Signed by a key the client did not register.
    let stranger = Signer::new(Alg::ES256.generate().unwrap(), Alg::ES256).unwrap();
    assert_eq!(
        exchange(assertion(&token_endpoint, "four", &stranger))
            .await
            .0,
        401
    );
    // An assertion without a kid is tried against each registered key.
    let claims = serde_json::json!({ "iss": "acme-jwt", "sub": "acme-jwt", "aud": token_endpoint, "jti": "five", "exp": now + 60 });
    let kidless = signer
        .sign_with_header(
            &serde_json::json!({ "alg": "ES256", "typ": "JWT" }),
            claims.to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(exchange(kidless).await.0, 200);
    // Several audiences are refused, even if one is right.
    let multi = serde_json::json!({ "iss": "acme-jwt", "sub": "acme-jwt", "aud": [token_endpoint, "https://other.example"], "jti": "six", "exp": now + 60 });
    assert_eq!(
        exchange(
            signer
                .sign_compact("JWT", multi.to_string().as_bytes())
                .unwrap()
        )
        .await
        .0,
        401
    );
    // A key client cannot fall back to a secret.
    let res = app
        .client
        .post(&token_endpoint)
        .basic_auth("acme-jwt", Some("whatever-secret-value-of-some-length"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn id_token_hint_must_name_the_session_user(backend: Backend) {
    let app = setup(&backend).await;
    let browser = Browser::default();
    let code = code_via(&browser, &auth_url(&app, &[])).await;
    let (_, tokens) = exchange(&app, &code).await;
    let own = tokens["id_token"].as_str().unwrap();
    let res = browser
        .client
        .get(auth_url(
            &app,
            &[("prompt", "none"), ("id_token_hint", own)],
        ))
        .send()
        .await
        .unwrap();
    assert!(
        query_of(&location(&res)).contains_key("code"),
        "the hinted user is signed in"
    );

    let other = app
        .sign_id_token("acme", "someone-else", "acme-web", sesame::store::now())
        .await;
    let res = browser
        .client
        .get(auth_url(
            &app,
            &[("prompt", "none"), ("id_token_hint", &other)],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(query_of(&location(&res))["error"], "login_required");
    let res = browser
        .client
        .get(auth_url(&app, &[("id_token_hint", &other)]))
        .send()
        .await
        .unwrap();
    assert!(
        location(&res).contains("/login?tx="),
        "another user's hint means a new sign-in"
    );

    let for_spa = app
        .sign_id_token("acme", "someone-else", "acme-spa", sesame::store::now())
        .await;
    for bad in ["not-a-jwt", for_spa.as_str()] {
        let res = browser
            .client
            .get(auth_url(&app, &[("id_token_hint", bad)]))
            .send()
            .await
            .unwrap();
        assert_eq!(
            query_of(&location(&res))["error"],
            "invalid_request",
            "{bad}"
        );
    }
}

async fn the_claims_parameter_names_claims_per_target(backend: Backend) {
    let app = setup(&backend).await;
    let browser = Browser::default();
    let claims = r#"{"id_token":{"email":{"essential":true}},"userinfo":{"given_name":null,"nickname":null}}"#;
    let url = auth_url(&app, &[("claims", claims)]).replace("scope=openid+email", "scope=openid");
    let code = code_via(&browser, &url).await;
    let (_, tokens) = exchange(&app, &code).await;
    let id = payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["email"], "bob@acme.example");
    assert!(id.get("given_name").is_none());
    let info: Value = app
        .client
        .get(format!("{}/userinfo", app.issuer("acme")))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["given_name"], "Bob");
    assert!(
        info.get("nickname").is_none(),
        "a claim the user does not have is left out"
    );
    assert!(
        info.get("email").is_none(),
        "email was asked for the ID token only"
    );

    let res = browser
        .client
        .get(auth_url(&app, &[("claims", "{not json")]))
        .send()
        .await
        .unwrap();
    assert_eq!(query_of(&location(&res))["error"], "invalid_request");
}

async fn applications_choose_their_id_token_algorithm(backend: Backend) {
    use openidconnect::core::CoreJwsSigningAlgorithm;
    let app = TestApp::spawn(&backend).await;
    app.import(&acme_toml().replace(
        "name = \"Acme Web\"\n",
        "name = \"Acme Web\"\nid_token_signed_response_alg = \"ES256\"\n",
    ));
    let oidc = client(&app, "acme-web", Some(WEB_SECRET), WEB_CB).await;
    let (url, _, nonce) = oidc
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .url();
    let res = Browser::default()
        .authorize_and_sign_in(url.as_str(), "bob", "bobs-long-password")
        .await;
    let code = query_of(&location(&res))["code"].clone();
    let tokens = oidc
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .request_async(&http())
        .await
        .unwrap();
    let id_token = tokens.id_token().unwrap();
    let verifier = oidc
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("an ES256 ID token verifies");
    assert_eq!(
        id_token.signing_alg().unwrap(),
        &CoreJwsSigningAlgorithm::EcdsaP256Sha256
    );
    let expected = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));
    // The kid names the organization's ES256 key in its JWKS.
    let jwks = app.jwks("acme").await;
    let kid = id_token.to_string();
    let header: Value = {
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(kid.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the kid is published");
    assert_eq!(key["alg"], "ES256");

    let bad = acme_toml().replace(
        "name = \"Acme Web\"\n",
        "name = \"Acme Web\"\nid_token_signed_response_alg = \"HS256\"\n",
    );
    let out = app.cli(&["import", app.write_file("bad.toml", &bad).to_str().unwrap()]);
    assert!(crate::helpers::stderr(&out).contains("id_token_signed_response_alg"));
}

async fn third_party_applications_ask_for_consent(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.import(&acme_toml().replace(
        "name = \"Acme Web\"\n",
        "name = \"Acme Web\"\nthird_party = true\n",
    ));
    let browser = Browser::default();
    let consent_form = |url: String| {
        let browser = browser.clone();
        async move {
            let page = browser.client.get(&url).send().await.unwrap();
            assert_eq!(page.status(), 200);
            let html = page.text().await.unwrap();
            (url.split('?').next().unwrap().to_string(), html)
        }
    };
    let decide = |action: String, html: String, decision: &'static str| {
        let browser = browser.clone();
        async move {
            let form = [
                ("tx", form_field(&html, "tx").unwrap()),
                ("csrf", form_field(&html, "csrf").unwrap()),
                ("decision", decision.to_string()),
            ];
            browser
                .client
                .post(action)
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };

    // Sign-in leads to the consent page, which lists what the app wants.
    let res = browser
        .authorize_and_sign_in(
            &auth_url(&app, &[("state", "c1")]),
            "bob",
            "bobs-long-password",
        )
        .await;
    let consent_url = location(&res);
    assert!(consent_url.contains("/consent?tx="), "{consent_url}");
    let (action, html) = consent_form(consent_url).await;
    assert!(
        html.contains("Allow Acme Web?") && html.contains("See your email address"),
        "{html}"
    );
    let res = browser
        .client
        .post(&action)
        .form(&[("tx", form_field(&html, "tx").unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "no CSRF token");
    let (action, html) = consent_form(location(
        &browser
            .client
            .get(auth_url(&app, &[]))
            .send()
            .await
            .unwrap(),
    ))
    .await;
    let res = decide(action, html, "deny").await;
    assert_eq!(query_of(&location(&res))["error"], "access_denied");

    // A sign-in transaction is not a consent transaction.
    let login_url = location(
        &Browser::default()
            .client
            .get(auth_url(&app, &[]))
            .send()
            .await
            .unwrap(),
    );
    let res = browser
        .client
        .get(login_url.replace("/login?", "/consent?"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    // Allowing gives a code, and the next time no question is asked.
    let res = browser
        .client
        .get(auth_url(&app, &[]))
        .send()
        .await
        .unwrap();
    let (action, html) = consent_form(location(&res)).await;
    let res = decide(action, html, "allow").await;
    assert!(query_of(&location(&res)).contains_key("code"));
    let res = browser
        .client
        .get(auth_url(&app, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert!(
        query_of(&location(&res)).contains_key("code"),
        "consent is remembered"
    );

    // More scope, or prompt=consent, asks again; prompt=none cannot ask.
    let more = auth_url(&app, &[]).replace("scope=openid+email", "scope=openid+email+phone");
    assert!(location(&browser.client.get(&more).send().await.unwrap()).contains("/consent?tx="));
    let res = browser
        .client
        .get(format!("{more}&prompt=none"))
        .send()
        .await
        .unwrap();
    assert_eq!(query_of(&location(&res))["error"], "consent_required");
    let res = browser
        .client
        .get(auth_url(&app, &[("prompt", "consent")]))
        .send()
        .await
        .unwrap();
    assert!(location(&res).contains("/consent?tx="));
}

async fn disabling_a_user_or_changing_the_password_ends_everything(backend: Backend) {
    let app = setup(&backend).await;
    let browser = Browser::default();
    let code = code_via(
        &browser,
        &auth_url(&app, &[]).replace("scope=openid+email", "scope=openid+offline_access"),
    )
    .await;
    let (_, tokens) = exchange(&app, &code).await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    app.import(&acme_toml().replace("bobs-long-password", "bobs-brand-new-password"));
    let (status, body) = post_token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "even offline access ends"
    );
    let res = browser
        .client
        .get(auth_url(&app, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_of(&location(&res))["error"],
        "login_required",
        "the session ended"
    );

    let res = browser
        .authorize_and_sign_in(&auth_url(&app, &[]), "bob", "bobs-brand-new-password")
        .await;
    let code = query_of(&location(&res))["code"].clone();
    let (_, tokens) = exchange(&app, &code).await;
    let disabled = acme_toml()
        .replace("bobs-long-password", "bobs-brand-new-password")
        .replace(
            "email_verified = true\n",
            "email_verified = true\ndisabled = true\n",
        );
    app.import(&disabled);
    let res = app
        .client
        .get(format!("{}/userinfo", app.issuer("acme")))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

async fn access_tokens_for_a_registered_api(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let extra = "\n[[organizations.resources]]\nidentifier = \"https://api.acme.example\"\nscopes = [\"orders:read\", \"orders:write\"]\n\
        \n[[organizations.applications]]\nclient_id = \"acme-svc\"\ntype = \"confidential\"\n\
        client_secret = \"a-service-secret-that-is-long-enough-1234\"\ngrant_types = [\"client_credentials\"]\n";
    app.import(&format!("{}{extra}", acme_toml()).replace("redirect_uris = [\"https://app.acme.example/callback\"]", "redirect_uris = [\"https://app.acme.example/callback\"]\nresources = [\"https://api.acme.example\"]"));
    let browser = Browser::default();
    let url = auth_url(&app, &[("resource", "https://api.acme.example")])
        .replace("scope=openid+email", "scope=openid+orders%3Aread+unknown");
    let code = code_via(&browser, &url).await;
    let (status, tokens) = exchange(&app, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let claims = payload(access);
    assert_eq!(claims["aud"], "https://api.acme.example");
    assert_eq!(claims["scope"], "openid orders:read");
    let res = app
        .client
        .get(format!("{}/userinfo", app.issuer("acme")))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "an API token is not a UserInfo token");
    let (_, info) = post_as(
        &app,
        "introspect",
        ("acme-web", Some(WEB_SECRET)),
        &[("token", access)],
    )
    .await;
    assert_eq!(
        (info["active"].as_bool(), info["aud"].as_str()),
        (Some(true), Some("https://api.acme.example"))
    );

    let res = browser
        .client
        .get(auth_url(&app, &[("resource", "https://unknown.example")]))
        .send()
        .await
        .unwrap();
    assert_eq!(query_of(&location(&res))["error"], "invalid_target");

    // acme-svc was not given the API: it cannot ask for it.
    let no_api = [
        ("grant_type", "client_credentials"),
        ("resource", "https://api.acme.example"),
    ];
    let svc0 = (
        "acme-svc",
        Some("a-service-secret-that-is-long-enough-1234"),
    );
    assert_eq!(
        post_as(&app, "token", svc0, &no_api).await.1["error"],
        "invalid_target"
    );
    app.import(
        &format!("{}{extra}", acme_toml())
            .replace("redirect_uris = [\"https://app.acme.example/callback\"]", "redirect_uris = [\"https://app.acme.example/callback\"]\nresources = [\"https://api.acme.example\"]")
            .replace("grant_types = [\"client_credentials\"]", "grant_types = [\"client_credentials\"]\nresources = [\"https://api.acme.example\"]"),
    );
    let svc = (
        "acme-svc",
        Some("a-service-secret-that-is-long-enough-1234"),
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("resource", "https://api.acme.example"),
        ("scope", "orders:write"),
    ];
    let (status, tokens) = post_as(&app, "token", svc, &form).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = payload(tokens["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["aud"].as_str(), claims["scope"].as_str()),
        (Some("https://api.acme.example"), Some("orders:write"))
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("resource", "https://api.acme.example"),
        ("scope", "admin"),
    ];
    assert_eq!(
        post_as(&app, "token", svc, &form).await.1["error"],
        "invalid_scope"
    );
}

/// A real HTTP server on loopback answering every request with `body` (a client's JWKS
/// endpoint); counts the requests.
async fn json_server(body: String) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (url, hits)
}

async fn private_key_jwt_with_a_jwks_uri(backend: Backend) {
    use sesame::keys::{Alg, Signer, jwk};
    let key = Alg::RS256.generate().unwrap();
    let public = jwk::public_jwk(&key, Alg::RS256).unwrap();
    let signer = Signer::new(key, Alg::RS256).unwrap();
    let (jwks_url, hits) = json_server(serde_json::json!({ "keys": [public] }).to_string()).await;
    let client = format!(
        "\n[[organizations.applications]]\nclient_id = \"acme-jwt\"\ntype = \"confidential\"\ngrant_types = [\"client_credentials\"]\njwks_uri = \"{jwks_url}\"\n"
    );
    let assertion = |issuer: &str, jti: &str| {
        let now = sesame::store::now();
        let claims = serde_json::json!({ "iss": "acme-jwt", "sub": "acme-jwt", "aud": issuer, "jti": jti, "exp": now + 60 });
        signer
            .sign_compact("JWT", claims.to_string().as_bytes())
            .unwrap()
    };
    let exchange = |app: &TestApp, jwt: String| {
        let (c, url) = (app.client.clone(), format!("{}/token", app.issuer("acme")));
        async move {
            let form = [
                ("grant_type", "client_credentials".to_string()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
                ),
                ("client_assertion", jwt),
            ];
            c.post(url)
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    // Development setting: loopback may be fetched.
    let test_db = crate::helpers::TestDb::new(&backend);
    let mut env = crate::helpers::test_env(&test_db.url, test_db.dir.path());
    env.insert("SESAME_OUTBOUND_ALLOW_PRIVATE".into(), "true".into());
    let app = TestApp::spawn_with(test_db, env).await;
    app.import(&format!("{}{client}", acme_toml()));
    assert_eq!(
        exchange(&app, assertion(&app.issuer("acme"), "a")).await,
        200
    );
    assert_eq!(
        exchange(&app, assertion(&app.issuer("acme"), "b")).await,
        200
    );
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the key set is cached"
    );

    // Default policy: a JWKS URI on a private address is never fetched.
    let strict = TestApp::spawn(&backend).await;
    strict.import(&format!("{}{client}", acme_toml()));
    assert_eq!(
        exchange(&strict, assertion(&strict.issuer("acme"), "c")).await,
        401
    );
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "no request left Sesame"
    );
}

async fn protocol_details_from_review(backend: Backend) {
    let app = setup(&backend).await;
    let browser = Browser::default();
    code_via(&browser, &auth_url(&app, &[])).await;
    // A POST authorization request continues as a GET, which carries the session cookie.
    let url = auth_url(&app, &[("prompt", "none")]);
    let (endpoint, query) = url.split_once('?').unwrap();
    let res = browser
        .client
        .post(endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = browser.client.get(location(&res)).send().await.unwrap();
    assert!(
        query_of(&location(&res)).contains_key("code"),
        "the session was seen"
    );
    // max_age=0 always signs in again.
    let res = browser
        .client
        .get(auth_url(&app, &[("max_age", "0")]))
        .send()
        .await
        .unwrap();
    assert!(location(&res).contains("/login?tx="));
    // Repeated parameters at the token endpoint.
    let (status, body) = post_token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("grant_type", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // Refresh tokens are described only to their own client.
    let code = code_via(&browser, &auth_url(&app, &[("prompt", "login")])).await;
    let (_, tokens) = exchange(&app, &code).await;
    let service = "\n[[organizations.applications]]\nclient_id = \"acme-svc\"\ntype = \"confidential\"\n\
        client_secret = \"a-service-secret-that-is-long-enough-1234\"\ngrant_types = [\"client_credentials\"]\n";
    app.import(&format!("{}{service}", acme_toml()));
    let svc = (
        "acme-svc",
        Some("a-service-secret-that-is-long-enough-1234"),
    );
    let (_, info) = post_as(
        &app,
        "introspect",
        svc,
        &[("token", tokens["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(info["active"], false);
    // Login pages carry no form-action CSP (browsers would block the redirect to the client).
    let login = location(
        &browser
            .client
            .get(auth_url(&app, &[("prompt", "login")]))
            .send()
            .await
            .unwrap(),
    );
    let page = browser.client.get(&login).send().await.unwrap();
    assert!(
        !page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("form-action")
    );
}

async fn one_code_used_twice_at_once_succeeds_once(backend: Backend) {
    let app = setup(&backend).await;
    let code = code_via(&Browser::default(), &auth_url(&app, &[])).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_CB),
    ];
    let (a, b) = tokio::join!(post_token(&app, &form), post_token(&app, &form));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{a:?} {b:?}");
}

async fn expired_rows_are_purged(backend: Backend) {
    use diesel::prelude::*;
    use sesame::store::schema::{
        access_tokens, authorization_codes, login_transactions, refresh_tokens,
        revoked_access_tokens,
    };
    let app = setup(&backend).await;
    let code = code_via(&Browser::default(), &auth_url(&app, &[])).await;
    let (_, tokens) = exchange(&app, &code).await;
    // Issuing an access token leaves no row: revoking one leaves its jti on the deny-list, and
    // one issued before the upgrade has its row in access_tokens.
    let access = tokens["access_token"].as_str().unwrap();
    let web = ("acme-web", Some(WEB_SECRET));
    assert_eq!(
        post_as(&app, "revoke", web, &[("token", access)]).await.0,
        200
    );
    let grant_id = payload(access)["grant_id"].as_str().unwrap().to_string();
    let mut conn = app.db.get().unwrap();
    diesel::insert_into(access_tokens::table)
        .values((
            access_tokens::jti.eq("recorded-before-the-upgrade"),
            access_tokens::grant_id.eq(&grant_id),
            access_tokens::expires_at.eq(sesame::store::now() + 300),
        ))
        .execute(&mut *conn)
        .unwrap();
    assert_eq!(
        sesame::store::auth::purge_expired(&mut conn).unwrap(),
        Default::default(),
        "nothing is expired yet"
    );
    let long_ago = sesame::store::now() - 100_000;
    diesel::update(login_transactions::table)
        .set(login_transactions::expires_at.eq(long_ago))
        .execute(&mut *conn)
        .unwrap();
    diesel::update(authorization_codes::table)
        .set(authorization_codes::expires_at.eq(long_ago))
        .execute(&mut *conn)
        .unwrap();
    diesel::update(access_tokens::table)
        .set(access_tokens::expires_at.eq(long_ago))
        .execute(&mut *conn)
        .unwrap();
    diesel::update(revoked_access_tokens::table)
        .set(revoked_access_tokens::expires_at.eq(long_ago))
        .execute(&mut *conn)
        .unwrap();
    diesel::update(refresh_tokens::table)
        .set(refresh_tokens::expires_at.eq(long_ago))
        .execute(&mut *conn)
        .unwrap();
    let purged = sesame::store::auth::purge_expired(&mut conn).unwrap();
    assert_eq!(
        (
            purged.transactions,
            purged.codes,
            purged.access_tokens,
            purged.refresh_tokens
        ),
        (1, 1, 1, 1),
        "{purged:?}"
    );
    assert_eq!(purged.revoked_access_tokens, 1, "{purged:?}");
    assert_eq!(purged.sessions, 0, "the live session stays");
    let (status, _) = post_token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 400, "a purged refresh token is simply unknown");
}

async fn a_burst_of_parallel_guesses_gets_no_more_tries_than_the_limit(backend: Backend) {
    let app = setup_with_policy(&backend, "max_attempts = 3\nduration_seconds = 60").await;
    let browser = Browser::default();
    let mut logins = Vec::new();
    for _ in 0..8 {
        logins.push(location(
            &browser
                .client
                .get(auth_url(&app, &[]))
                .send()
                .await
                .unwrap(),
        ));
    }
    let mut attempts = tokio::task::JoinSet::new();
    for login in logins {
        let browser = browser.clone();
        attempts.spawn(async move {
            browser
                .sign_in(&login, "bob", "a-wrong-guess")
                .await
                .text()
                .await
                .unwrap()
        });
    }
    let pages = attempts.join_all().await;
    let wrong = pages
        .iter()
        .filter(|p| p.contains("Wrong username or password."))
        .count();
    let locked = pages
        .iter()
        .filter(|p| p.contains("Account locked"))
        .count();
    // Attempts still hashing when the lock lands see the lock page too; none beyond the limit
    // ever learns whether its guess was right.
    assert!(wrong <= 3, "{wrong} attempts were checked, the limit is 3");
    assert_eq!(wrong + locked, 8);
}

both_backends!(
    a_burst_of_parallel_guesses_gets_no_more_tries_than_the_limit,
    expired_rows_are_purged,
    protocol_details_from_review,
    one_code_used_twice_at_once_succeeds_once,
    private_key_jwt_with_a_jwks_uri,
    access_tokens_for_a_registered_api,
    disabling_a_user_or_changing_the_password_ends_everything,
    third_party_applications_ask_for_consent,
    applications_choose_their_id_token_algorithm,
    the_claims_parameter_names_claims_per_target,
    id_token_hint_must_name_the_session_user,
    private_key_jwt_clients_sign_single_use_assertions,
    weak_client_keys_and_unknown_extensions_are_refused,
    cors_allows_registered_origins_only,
    revocation_and_introspection,
    client_credentials_for_services,
    repeated_failures_lock_the_account_until_the_duration_passes,
    attempts_during_a_lock_neither_extend_nor_renew_it,
    smart_lockout_keeps_the_owner_in_while_strangers_are_locked_out,
    too_many_failures_from_one_address_stop_before_hashing,
    code_flow_with_a_strict_relying_party,
    public_client_needs_pkce,
    code_reuse_fails_and_revokes_its_tokens,
    wrong_pkce_verifier_or_redirect_uri_is_refused,
    unregistered_redirect_uri_shows_a_page_and_never_redirects,
    prompt_none_and_max_age_follow_the_session,
    sign_in_form_needs_its_csrf_token_and_its_browser,
    wrong_password_and_unknown_user_look_the_same_and_both_hash,
    form_post_response_mode_posts_back_to_the_client,
);
