//! The `federated:<name>` first step end to end, with a second Sesame as the upstream OpenID
//! provider (a real provider: discovery, code flow with PKCE, signed ID tokens, UserInfo): the
//! user signs in upstream, comes back, passes SMS OTP on the number mapped from the upstream
//! `phone_number`, and gets tokens. Then the rules for that number, linking, and every upstream
//! failure.

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, TestDb, form_field, location, payload, test_env};
use crate::sms_otp::{code_at, get, last_code, post_form, sql, submit};

const CB: &str = "https://fed.acme.example/callback";
const SECRET: &str = "a-client-secret-for-the-acme-mfa-tests-0123";
const UPSTREAM_SECRET: &str = "the-downstream-client-secret-at-the-idp-0123";
const ERIN_PASSWORD: &str = "erins-long-password";

/// Two Sesames on one backend: `idp` (org `idp`) and `app` (org `acme`), `app` trusting `idp`.
struct Pair {
    idp: TestApp,
    app: TestApp,
    /// The idp's issuer of org `idp` (at its base URL, which a test may put behind a proxy).
    idp_issuer: String,
}

/// `provider` is extra TOML for the provider entry at acme (e.g. `create_users = true`);
/// `upstream_app` extra TOML for Sesame's registration at the idp.
async fn pair(backend: &Backend, provider: &str, upstream_app: &str) -> Pair {
    pair_at(backend, provider, upstream_app, None).await
}

/// [`pair`], the idp's base URL being `idp_base` when given (a proxy in front of it).
async fn pair_at(
    backend: &Backend,
    provider: &str,
    upstream_app: &str,
    idp_base: Option<String>,
) -> Pair {
    let db = TestDb::new(backend);
    let mut env = test_env(&db.url, db.dir.path());
    env.insert("SESAME_OUTBOUND_ALLOW_PRIVATE".into(), "true".into());
    let app = TestApp::spawn_with(db, env).await;
    let idp_db = TestDb::new(backend);
    let mut idp_env = test_env(&idp_db.url, idp_db.dir.path());
    if let Some(base) = &idp_base {
        idp_env.insert("SESAME_BASE_URL".into(), base.clone());
    }
    let idp = TestApp::spawn_with(idp_db, idp_env).await;
    let idp_issuer = format!("{}/t/idp", idp_base.as_deref().unwrap_or(&idp.address));
    let cb = format!("{}/federated/corp/callback", app.issuer("acme"));
    idp.import(&format!(
        r#"
[[organizations]]
slug = "idp"
display_name = "Corp Directory"

[[organizations.applications]]
client_id = "acme-sesame"
name = "Acme (via Sesame)"
type = "confidential"
client_secret = "{UPSTREAM_SECRET}"
redirect_uris = ["{cb}"]
{upstream_app}

[[organizations.users]]
username = "erin"
password = "{ERIN_PASSWORD}"
email = "erin@corp.example"
email_verified = true
phone_number = "+44 7400 900555"
phone_number_verified = true
[organizations.users.profile]
name = "Erin Example"

[[organizations.users]]
username = "frank"
password = "franks-long-password"
email = "frank@corp.example"
email_verified = true
phone_number = "+44 7400 900556"
phone_number_verified = false
"#,
    ));
    let secret_file = app.write_file("idp-secret", UPSTREAM_SECRET);
    app.import(&acme_toml(
        &format!("{idp_issuer}/.well-known/openid-configuration"),
        &secret_file.display().to_string(),
        provider,
    ));
    Pair {
        idp,
        app,
        idp_issuer,
    }
}

fn acme_toml(discovery_url: &str, secret_file: &str, provider: &str) -> String {
    format!(
        r#"
[[organizations]]
slug = "acme"
display_name = "Acme Corp"
[organizations.sms_otp]
resend_cooldown_seconds = 0

[[organizations.identity_providers]]
name = "corp"
display_name = "Corp Directory"
discovery_url = "{discovery_url}"
client_id = "acme-sesame"
client_secret = {{ file = "{secret_file}" }}
{provider}

[[organizations.applications]]
client_id = "fed-web"
name = "Fed Web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{CB}"]
sign_in_flow = [["federated:corp", "password"], ["sms_otp"]]

[[organizations.users]]
username = "gina"
password = "ginas-long-password"
email = "erin@corp.example"
email_verified = true
phone_number = "+44 7400 900777"
phone_number_verified = true
"#
    )
}

/// Starts an authorization of fed-web at acme and presses "Sign in with Corp Directory";
/// returns the redirect to the idp.
async fn to_upstream(p: &Pair, browser: &Browser) -> String {
    let mut url = url::Url::parse(&format!("{}/authorize", p.app.issuer("acme"))).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "fed-web")
        .append_pair("redirect_uri", CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "st");
    let res = browser.client.get(url.as_str()).send().await.unwrap();
    let login = location(&res);
    let (status, html) = get(browser, &login).await;
    assert_eq!(status, 200);
    assert!(html.contains("Sign in with Corp Directory"), "{html}");
    assert!(
        html.contains("type=\"password\""),
        "password is the other choice"
    );
    let res = post_form(
        browser,
        &format!("{}/federated/corp", p.app.issuer("acme")),
        &html,
        &[],
    )
    .await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let upstream = location(&res);
    assert!(
        upstream.starts_with(&format!("{}/authorize?", p.idp_issuer)),
        "{upstream}"
    );
    let q: std::collections::HashMap<String, String> = url::Url::parse(&upstream)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(q["nonce"].len() >= 43 && q["state"].len() >= 43);
    assert_eq!(
        q["redirect_uri"],
        format!("{}/federated/corp/callback", p.app.issuer("acme"))
    );
    upstream
}

/// Signs in upstream as `username`; returns the callback URL the idp sends the browser to.
async fn sign_in_upstream(browser: &Browser, upstream: &str, username: &str, pw: &str) -> String {
    let res = browser.authorize_and_sign_in(upstream, username, pw).await;
    assert_eq!(res.status(), 303);
    location(&res)
}

async fn exchange(app: &TestApp, code: &str) -> Value {
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("fed-web", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    payload(body["id_token"].as_str().unwrap())
}

fn user_row(app: &TestApp, username: &str) -> sesame::store::users::User {
    let conn = &mut app.db.get().unwrap();
    let org = sesame::store::organizations::Organization::find_by_slug(conn, "acme")
        .unwrap()
        .unwrap();
    sesame::store::users::User::find_by_username(
        conn,
        org.id,
        &sesame::domain::Username::parse(username).unwrap(),
    )
    .unwrap()
    .unwrap_or_else(|| panic!("no user {username}"))
}

async fn federated_sign_in_then_sms_otp_to_tokens(backend: Backend) {
    let p = pair(&backend, "create_users = true", "").await;
    let browser = Browser::default();
    let upstream = to_upstream(&p, &browser).await;
    let back = sign_in_upstream(&browser, &upstream, "erin", ERIN_PASSWORD).await;
    assert!(
        back.starts_with(&format!(
            "{}/federated/corp/callback?",
            p.app.issuer("acme")
        )),
        "{back}"
    );
    let res = browser.client.get(&back).send().await.unwrap();
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let otp_url = location(&res);
    assert!(otp_url.contains("/otp?tx="), "SMS OTP follows: {otp_url}");
    get(&browser, &otp_url).await;
    assert_eq!(
        p.app.sms.sent().last().unwrap().to,
        "+447400900555",
        "the code goes to the verified upstream number"
    );
    let res = submit(&browser, &otp_url, &[("code", &last_code(&p.app))]).await;
    let claims = exchange(&p.app, &code_at(&res, CB)).await;
    assert_eq!(
        claims["amr"],
        serde_json::json!(["fed", "sms", "otp", "mfa"])
    );
    assert_eq!(claims["acr"], "urn:sesame:acr:mfa");

    // The user was created from the mapped claims, without a password.
    let erin = user_row(&p.app, "erin");
    assert_eq!(claims["sub"], erin.id.as_str());
    assert_eq!(
        erin.phone_number.as_ref().unwrap().as_str(),
        "+447400900555"
    );
    assert!(erin.phone_number_verified);
    assert_eq!(erin.email.as_ref().unwrap().as_str(), "erin@corp.example");
    assert_eq!(erin.profile.name.as_deref(), Some("Erin Example"));
    assert!(erin.password_hash.is_none());
    let changes = sesame::store::account_changes::AccountChange::of_user(
        &mut p.app.db.get().unwrap(),
        &erin.id,
    )
    .unwrap();
    assert_eq!(changes.len(), 1, "the number taken is recorded");
    assert_eq!(changes[0].change, "mobile_number_changed");
    assert!(changes[0].detail.contains("0555") && changes[0].detail.contains("corp"));
    let gina = user_row(&p.app, "gina");
    assert_ne!(gina.id, erin.id, "no linking by email unless configured");

    // Later the upstream number changes: the local one stays (only the first link sets it).
    sql(
        &p.idp,
        "UPDATE users SET phone_number = '+447400900999' WHERE username = 'erin'",
    );
    let browser = Browser::default();
    let upstream = to_upstream(&p, &browser).await;
    let back = sign_in_upstream(&browser, &upstream, "erin", ERIN_PASSWORD).await;
    let res = browser.client.get(&back).send().await.unwrap();
    let otp_url = location(&res);
    get(&browser, &otp_url).await;
    assert_eq!(p.app.sms.sent().last().unwrap().to, "+447400900555");
    let res = submit(&browser, &otp_url, &[("code", &last_code(&p.app))]).await;
    let again = exchange(&p.app, &code_at(&res, CB)).await;
    assert_eq!(again["sub"], claims["sub"], "linked by issuer and subject");

    // A disabled account stops at its first step.
    sql(
        &p.app,
        "UPDATE users SET disabled = TRUE WHERE username = 'erin'",
    );
    let browser = Browser::default();
    let upstream = to_upstream(&p, &browser).await;
    let back = sign_in_upstream(&browser, &upstream, "erin", ERIN_PASSWORD).await;
    let (status, page) = get(&browser, &back).await;
    assert_eq!(status, 403);
    assert!(page.contains("Account disabled"), "{page}");
}

async fn an_unverified_upstream_number_is_not_taken(backend: Backend) {
    let p = pair(&backend, "create_users = true", "").await;
    let browser = Browser::default();
    let upstream = to_upstream(&p, &browser).await;
    let back = sign_in_upstream(&browser, &upstream, "frank", "franks-long-password").await;
    let res = browser.client.get(&back).send().await.unwrap();
    let otp_url = location(&res);
    let (status, html) = get(&browser, &otp_url).await;
    assert_eq!(status, 200);
    assert!(html.contains("no verified mobile number"), "{html}");
    assert!(p.app.sms.sent().is_empty());
    let frank = user_row(&p.app, "frank");
    assert!(frank.phone_number.is_none() && !frank.phone_number_verified);
}

async fn linking_by_verified_email_keeps_a_verified_number(backend: Backend) {
    let p = pair(&backend, "link_by_verified_email = true", "").await;
    let browser = Browser::default();
    let upstream = to_upstream(&p, &browser).await;
    let back = sign_in_upstream(&browser, &upstream, "erin", ERIN_PASSWORD).await;
    let res = browser.client.get(&back).send().await.unwrap();
    let otp_url = location(&res);
    get(&browser, &otp_url).await;
    assert_eq!(
        p.app.sms.sent().last().unwrap().to,
        "+447400900777",
        "gina's verified number, not the upstream one"
    );
    let gina = user_row(&p.app, "gina");
    assert_eq!(
        gina.phone_number.as_ref().unwrap().as_str(),
        "+447400900777"
    );
}

async fn without_an_account_or_creation_the_sign_in_stops(backend: Backend) {
    let p = pair(&backend, "", "").await;
    let browser = Browser::default();
    let upstream = to_upstream(&p, &browser).await;
    let back = sign_in_upstream(&browser, &upstream, "erin", ERIN_PASSWORD).await;
    let (status, html) = get(&browser, &back).await;
    assert_eq!(status, 403);
    assert!(
        html.contains("not linked to an account of Acme Corp"),
        "{html}"
    );
}

async fn upstream_denial_and_replays_end_on_clear_pages(backend: Backend) {
    // A third-party registration upstream: the user is asked to consent, and denies.
    let p = pair(&backend, "create_users = true", "third_party = true").await;
    let browser = Browser::default();
    let upstream = to_upstream(&p, &browser).await;
    let consent = sign_in_upstream(&browser, &upstream, "erin", ERIN_PASSWORD).await;
    assert!(consent.contains("/consent?tx="), "{consent}");
    let (_, html) = get(&browser, &consent).await;
    let res = post_form(&browser, &consent, &html, &[("decision", "deny")]).await;
    let back = location(&res);
    assert!(back.contains("error=access_denied"), "{back}");
    let (status, page) = get(&browser, &back).await;
    assert_eq!(status, 403);
    assert!(page.contains("Sign-in cancelled"), "{page}");

    // A fresh attempt: its answer opened in another browser is refused without spoiling it,
    // the right browser goes on, and the answer replayed afterwards is refused.
    let browser = Browser::default();
    let upstream = to_upstream(&p, &browser).await;
    let consent = sign_in_upstream(&browser, &upstream, "erin", ERIN_PASSWORD).await;
    let (_, html) = get(&browser, &consent).await;
    let res = post_form(&browser, &consent, &html, &[("decision", "allow")]).await;
    let back = location(&res);
    let (status, page) = get(&Browser::default(), &back).await;
    assert_eq!(status, 400, "another browser: {page}");
    let res = browser.client.get(&back).send().await.unwrap();
    assert_eq!(res.status(), 303, "the right browser still goes on");
    assert!(location(&res).contains("/otp?tx="));
    let (status, page) = get(&browser, &back).await;
    assert_eq!(status, 400, "a replay: {page}");

    // A forged answer with a state nobody issued.
    let (status, _) = get(
        &browser,
        &format!(
            "{}/federated/corp/callback?code=x&state=forged",
            p.app.issuer("acme")
        ),
    )
    .await;
    assert_eq!(status, 400);
}

/// RFC 9207: the idp promises `iss` in its answers; an answer without it, or naming another
/// issuer, is refused (a mix-up attack would look like that).
async fn answers_without_or_with_a_wrong_iss_are_refused(backend: Backend) {
    let p = pair(&backend, "create_users = true", "").await;
    for tamper in ["drop", "other"] {
        let browser = Browser::default();
        let upstream = to_upstream(&p, &browser).await;
        let back = sign_in_upstream(&browser, &upstream, "erin", ERIN_PASSWORD).await;
        let mut url = url::Url::parse(&back).unwrap();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .into_owned()
            .filter(|(k, _)| k != "iss")
            .collect();
        url.query_pairs_mut().clear().extend_pairs(&pairs);
        if tamper == "other" {
            url.query_pairs_mut()
                .append_pair("iss", "https://attacker.example");
        }
        let (status, page) = get(&browser, url.as_str()).await;
        assert_eq!(status, 502, "{tamper}: {page}");
        assert!(page.contains("could not be verified"), "{page}");
    }
    assert!(p.app.sms.sent().is_empty(), "no sign-in went on");
}

async fn a_bad_client_secret_ends_on_a_page(backend: Backend) {
    let p = pair(&backend, "create_users = true", "").await;
    // Sesame's secret at the idp is wrong: the code exchange is refused.
    std::fs::write(
        p.app.test_db.dir.path().join("idp-secret"),
        "not-the-secret-the-idp-knows-0123456789",
    )
    .unwrap();
    let browser = Browser::default();
    let upstream = to_upstream(&p, &browser).await;
    let back = sign_in_upstream(&browser, &upstream, "erin", ERIN_PASSWORD).await;
    let (status, page) = get(&browser, &back).await;
    assert_eq!(status, 502);
    assert!(page.contains("could not be verified"), "{page}");
}

async fn an_unreachable_provider_ends_on_a_page(backend: Backend) {
    let db = TestDb::new(&backend);
    let mut env = test_env(&db.url, db.dir.path());
    env.insert("SESAME_OUTBOUND_ALLOW_PRIVATE".into(), "true".into());
    let app = TestApp::spawn_with(db, env).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let secret_file = app.write_file("idp-secret", UPSTREAM_SECRET);
    app.import(&acme_toml(
        &format!("http://127.0.0.1:{port}/t/idp/.well-known/openid-configuration"),
        &secret_file.display().to_string(),
        "",
    ));
    let browser = Browser::default();
    let mut url = url::Url::parse(&format!("{}/authorize", app.issuer("acme"))).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "fed-web")
        .append_pair("redirect_uri", CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid");
    let res = browser.client.get(url.as_str()).send().await.unwrap();
    let login = location(&res);
    let (_, html) = get(&browser, &login).await;
    assert!(form_field(&html, "csrf").is_some());
    let res = post_form(
        &browser,
        &format!("{}/federated/corp", app.issuer("acme")),
        &html,
        &[],
    )
    .await;
    assert_eq!(res.status(), 502);
    assert!(res.text().await.unwrap().contains("cannot be reached"));
}

/// A user created by federation has no password: the account area lets them confirm it is them
/// through the provider (then their code), and shows their number.
async fn a_federated_user_reaches_the_account_area(backend: Backend) {
    let p = pair(&backend, "create_users = true", "").await;
    let browser = Browser::default();
    let upstream = to_upstream(&p, &browser).await;
    let back = sign_in_upstream(&browser, &upstream, "erin", ERIN_PASSWORD).await;
    let res = browser.client.get(&back).send().await.unwrap();
    let otp_url = location(&res);
    get(&browser, &otp_url).await;
    let res = submit(&browser, &otp_url, &[("code", &last_code(&p.app))]).await;
    code_at(&res, CB);

    let res = browser
        .client
        .get(format!("{}/account/verify", p.app.issuer("acme")))
        .send()
        .await
        .unwrap();
    let login = location(&res);
    assert!(login.contains("/login?tx="), "{login}");
    let (_, html) = get(&browser, &login).await;
    assert!(html.contains("Sign in with Corp Directory"), "{html}");
    let res = post_form(
        &browser,
        &format!("{}/federated/corp", p.app.issuer("acme")),
        &html,
        &[],
    )
    .await;
    // Still signed in upstream: the provider answers at once.
    let res = browser.client.get(location(&res)).send().await.unwrap();
    let back = location(&res);
    assert!(back.contains("/federated/corp/callback?"), "{back}");
    let res = browser.client.get(&back).send().await.unwrap();
    let otp_url = location(&res);
    assert!(otp_url.contains("/otp?tx="), "{otp_url}");
    get(&browser, &otp_url).await;
    let res = submit(&browser, &otp_url, &[("code", &last_code(&p.app))]).await;
    assert_eq!(location(&res), format!("{}/account/", p.app.issuer("acme")));
    let (status, page) = get(&browser, &location(&res)).await;
    assert_eq!(status, 200);
    assert!(page.contains("0555"), "the masked number: {page}");
    assert!(
        page.contains("id=\"fresh\""),
        "changes are open after the fresh check: {page}"
    );
}

/// A reverse proxy on `listener` in front of `target`, whose UserInfo answers 503 while
/// `fail_userinfo` is set.
fn proxy(
    listener: std::net::TcpListener,
    target: String,
    fail_userinfo: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    proxy_rewriting(
        listener,
        target,
        fail_userinfo,
        std::sync::Arc::new(|_, body| body),
    );
}

/// Rewrites an answer's body, given the request's path.
type Rewrite = std::sync::Arc<dyn Fn(&str, Vec<u8>) -> Vec<u8> + Send + Sync>;

/// [`proxy`], each answer's body passed through `rewrite`.
fn proxy_rewriting(
    listener: std::net::TcpListener,
    target: String,
    fail_userinfo: std::sync::Arc<std::sync::atomic::AtomicBool>,
    rewrite: Rewrite,
) {
    use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let server = HttpServer::new(move || {
        let (client, target, fail, rewrite) = (
            client.clone(),
            target.clone(),
            fail_userinfo.clone(),
            rewrite.clone(),
        );
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let (client, target, fail, rewrite) = (
                client.clone(),
                target.clone(),
                fail.clone(),
                rewrite.clone(),
            );
            async move {
                if fail.load(std::sync::atomic::Ordering::SeqCst)
                    && req.path().ends_with("/userinfo")
                {
                    return HttpResponse::ServiceUnavailable().body("down");
                }
                let url = format!("{target}{}", req.uri());
                let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).unwrap();
                let mut forward = client.request(method, url).body(body.to_vec());
                for (name, value) in req.headers() {
                    if !matches!(name.as_str(), "host" | "content-length") {
                        forward = forward.header(name.as_str(), value.as_bytes());
                    }
                }
                let res = forward.send().await.unwrap();
                let mut back = HttpResponse::build(
                    actix_web::http::StatusCode::from_u16(res.status().as_u16()).unwrap(),
                );
                for (name, value) in res.headers() {
                    if !matches!(name.as_str(), "content-length" | "transfer-encoding") {
                        back.append_header((name.as_str(), value.as_bytes()));
                    }
                }
                let body = res.bytes().await.unwrap().to_vec();
                back.body(rewrite(req.path(), body))
            }
        }))
    })
    .workers(2)
    .listen(listener)
    .unwrap();
    tokio::spawn(server.run());
}

async fn a_first_sign_in_whose_userinfo_fails_makes_no_half_user(backend: Backend) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let p = pair_at(&backend, "create_users = true", "", Some(base)).await;
    let fail = std::sync::Arc::new(AtomicBool::new(true));
    proxy(listener, p.idp.address.clone(), fail.clone());

    // UserInfo down at a first sign-in: a clear page, and no user made from the ID token alone.
    let browser = Browser::default();
    let upstream = to_upstream(&p, &browser).await;
    let back = sign_in_upstream(&browser, &upstream, "erin", ERIN_PASSWORD).await;
    let res = browser.client.get(&back).send().await.unwrap();
    assert_eq!(res.status(), 502);
    let html = res.text().await.unwrap();
    assert!(html.contains("did not send your profile"), "{html}");
    let org = sesame::store::organizations::Organization::find_by_slug(
        &mut p.app.db.get().unwrap(),
        "acme",
    )
    .unwrap()
    .unwrap();
    assert!(
        sesame::store::users::User::find_by_username(
            &mut p.app.db.get().unwrap(),
            org.id,
            &sesame::domain::Username::parse("erin").unwrap(),
        )
        .unwrap()
        .is_none(),
        "no half-made user"
    );

    // UserInfo back: the next try makes the whole user.
    fail.store(false, Ordering::SeqCst);
    let browser = Browser::default();
    let upstream = to_upstream(&p, &browser).await;
    let back = sign_in_upstream(&browser, &upstream, "erin", ERIN_PASSWORD).await;
    let res = browser.client.get(&back).send().await.unwrap();
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let erin = user_row(&p.app, "erin");
    assert_eq!(erin.email.as_ref().unwrap().as_str(), "erin@corp.example");
    assert_eq!(erin.profile.name.as_deref(), Some("Erin Example"));
    assert_eq!(
        erin.phone_number.as_ref().unwrap().as_str(),
        "+447400900555"
    );
}

/// An upstream provider that signs ID tokens with RFC 9864's fully specified `Ed25519` (as
/// `oidc-provider` 9 can): the upstream Sesame signs with EdDSA, and a proxy in front of it
/// announces `Ed25519` in its discovery document and re-signs each ID token under that name with
/// the same key.
async fn an_upstream_signing_with_rfc9864_ed25519_is_accepted(backend: Backend) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let p = pair_at(
        &backend,
        "create_users = true",
        "id_token_signed_response_alg = \"EdDSA\"",
        Some(base),
    )
    .await;
    let idp_db = p.idp.db.clone();
    let resigned = std::sync::Arc::new(AtomicUsize::new(0));
    let count = resigned.clone();
    let rewrite: Rewrite = std::sync::Arc::new(move |path: &str, body: Vec<u8>| {
        if path.ends_with("/.well-known/openid-configuration") {
            let mut doc: Value = serde_json::from_slice(&body).unwrap();
            doc["id_token_signing_alg_values_supported"]
                .as_array_mut()
                .unwrap()
                .push("Ed25519".into());
            return serde_json::to_vec(&doc).unwrap();
        }
        if !path.ends_with("/token") {
            return body;
        }
        let mut answer: Value = serde_json::from_slice(&body).unwrap();
        let Some(id_token) = answer["id_token"].as_str() else {
            return body;
        };
        answer["id_token"] = resign_as_ed25519(&idp_db, id_token).into();
        count.fetch_add(1, Ordering::SeqCst);
        serde_json::to_vec(&answer).unwrap()
    });
    proxy_rewriting(
        listener,
        p.idp.address.clone(),
        std::sync::Arc::new(AtomicBool::new(false)),
        rewrite,
    );

    let browser = Browser::default();
    let upstream = to_upstream(&p, &browser).await;
    let back = sign_in_upstream(&browser, &upstream, "erin", ERIN_PASSWORD).await;
    let res = browser.client.get(&back).send().await.unwrap();
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    assert!(location(&res).contains("/otp?tx="), "on to SMS OTP");
    assert_eq!(
        resigned.load(Ordering::SeqCst),
        1,
        "the ID token was Ed25519"
    );
    let erin = user_row(&p.app, "erin");
    assert_eq!(erin.email.as_ref().unwrap().as_str(), "erin@corp.example");
}

/// The same ID token signed again with the idp's Ed25519 key, its header's `alg` `Ed25519`.
fn resign_as_ed25519(idp_db: &sesame::store::Db, id_token: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let conn = &mut idp_db.get().unwrap();
    let org = sesame::store::organizations::Organization::find_by_slug(conn, "idp")
        .unwrap()
        .unwrap();
    let row = sesame::store::keys::SigningKeyRow::list_published(conn, org.id)
        .unwrap()
        .into_iter()
        .find(|r| r.alg == "EdDSA" && r.state == "active")
        .unwrap();
    let kek = sesame::keys::Kek::new(sesame::config::parse_key(crate::helpers::TEST_KEK).unwrap());
    let der = kek
        .open(
            &row.private_key,
            format!("sesame-signing-key/{}/{}", org.id, row.kid).as_bytes(),
        )
        .unwrap();
    let key = openssl::pkey::PKey::private_key_from_pkcs8(&der).unwrap();
    let payload = id_token.split('.').nth(1).unwrap();
    let header = serde_json::json!({ "alg": "Ed25519", "kid": row.kid, "typ": "JWT" });
    let input = format!("{}.{payload}", b64.encode(header.to_string()));
    let signature = openssl::sign::Signer::new_without_digest(&key)
        .unwrap()
        .sign_oneshot_to_vec(input.as_bytes())
        .unwrap();
    format!("{input}.{}", b64.encode(signature))
}

both_backends!(
    an_upstream_signing_with_rfc9864_ed25519_is_accepted,
    a_first_sign_in_whose_userinfo_fails_makes_no_half_user,
    federated_sign_in_then_sms_otp_to_tokens,
    an_unverified_upstream_number_is_not_taken,
    linking_by_verified_email_keeps_a_verified_number,
    without_an_account_or_creation_the_sign_in_stops,
    a_federated_user_reaches_the_account_area,
    upstream_denial_and_replays_end_on_clear_pages,
    a_bad_client_secret_ends_on_a_page,
    answers_without_or_with_a_wrong_iss_are_refused,
    an_unreachable_provider_ends_on_a_page,
);
