//! Passkeys (the passkey plug-in, WebAuthn): registered in the account area after a fresh pass
//! through the chain, then a second step of an application's flow. The browser's part is played
//! by `webauthn-authenticator-rs`'s software passkey, answering the options the pages carry as
//! a platform authenticator would, for the origin the server runs at (`http://localhost:PORT`:
//! passkeys need a host name).

use diesel::prelude::*;
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::account::change;
use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, TestDb, form_field, location, test_env};
use crate::sms_otp::{BOB_PASSWORD, PWD_CB, SECRET, acme_toml, code_at, exchange, get, post_form};
use crate::totp::{auth_url, bob_with_fresh_chain};

const KEY_CB: &str = "https://keys.acme.example/callback";

/// acme, served at `http://localhost:PORT`, with `key-web` (password, then a passkey or an SMS
/// code), `key-only` (password, then a passkey) and `key-first` (a password and an SMS code, or
/// a passkey alone).
async fn setup(backend: &Backend) -> TestApp {
    setup_with(backend, "resend_cooldown_seconds = 0", "").await
}

/// The same, with `otp` as the organization's SMS OTP settings and `extra` appended to it (e.g.
/// its enrollment switches).
async fn setup_with(backend: &Backend, otp: &str, extra: &str) -> TestApp {
    let test_db = TestDb::new(backend);
    let mut env = test_env(&test_db.url, test_db.dir.path());
    env.insert("SESAME_TEST_HOST".into(), "localhost".into());
    let app = TestApp::spawn_with(test_db, env).await;
    let toml = format!(
        r#"{}
[[organizations.applications]]
client_id = "key-web"
name = "Key Web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{KEY_CB}"]
sign_in_flow = [["password"], ["passkey", "sms_otp"]]

[[organizations.applications]]
client_id = "key-only"
name = "Key Only"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{KEY_CB}"]
sign_in_flow = [["password"], ["passkey"]]

[[organizations.applications]]
client_id = "key-first"
name = "Key First"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{KEY_CB}"]
sign_in_flow = [["password", "passkey"], ["sms_otp", "passkey"]]

[[organizations.applications]]
client_id = "sms-first"
name = "SMS First"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{KEY_CB}"]
sign_in_flow = [["password"], ["sms_otp", "passkey"]]
{extra}
"#,
        acme_toml(otp, "max_attempts = 20"),
    );
    app.import(&toml);
    app
}

/// The `data-options` of the page's passkey form, as the page's script reads them.
fn page_options(html: &str) -> serde_json::Value {
    let marker = "data-options=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("options in {html}"))
        + marker.len();
    let raw = &html[start..start + html[start..].find('"').unwrap()];
    let text = raw
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap()
}

fn origin(app: &TestApp) -> Url {
    Url::parse(&app.address).unwrap()
}

/// The device's answer to a registration page.
fn register(app: &TestApp, device: &mut SoftPasskey, html: &str) -> String {
    let mut options = page_options(html);
    // The software passkey cannot store keys on itself: it is told to keep this one on the
    // server's side (the server does not depend on where the key lives for a second step).
    options["authenticatorSelection"]["residentKey"] = "discouraged".into();
    options["authenticatorSelection"]["requireResidentKey"] = false.into();
    let options: CreationChallengeResponse =
        serde_json::from_value(serde_json::json!({ "publicKey": options })).unwrap();
    serde_json::to_string(&device.do_registration(origin(app), options).unwrap()).unwrap()
}

/// The device's answer to a passkey step's page.
fn sign(app: &TestApp, device: &mut SoftPasskey, html: &str) -> String {
    let options: RequestChallengeResponse =
        serde_json::from_value(serde_json::json!({ "publicKey": page_options(html) })).unwrap();
    serde_json::to_string(&device.do_authentication(origin(app), options).unwrap()).unwrap()
}

/// The device's answer to a sign-in page's discoverable ceremony with the key `key_id`, naming
/// `handle` as its user. (A browser lets the user pick a key the device stores with its user
/// handle; the software passkey stores neither, so it is told the key, and the handle is put in
/// its answer where an authenticator puts it: outside what it signs.)
fn sign_as(
    app: &TestApp,
    device: &mut SoftPasskey,
    html: &str,
    key_id: &str,
    handle: &[u8],
) -> String {
    use base64::Engine;
    let mut options = page_options(html);
    // No key named: the device offers whichever of its keys the user picks.
    assert_eq!(
        options["allowCredentials"],
        serde_json::json!([]),
        "{options}"
    );
    options["allowCredentials"] = serde_json::json!([{ "type": "public-key", "id": key_id }]);
    let options: RequestChallengeResponse =
        serde_json::from_value(serde_json::json!({ "publicKey": options })).unwrap();
    let answer = device.do_authentication(origin(app), options).unwrap();
    let mut answer = serde_json::to_value(&answer).unwrap();
    answer["response"]["userHandle"] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(handle)
        .into();
    answer.to_string()
}

fn user_id(app: &TestApp, name: &str) -> String {
    use sesame::store::schema::users::dsl::*;
    users
        .filter(username.eq(name))
        .select(id)
        .first(&mut app.db.get().unwrap())
        .unwrap()
}

/// (factor, name, confirmed, lookup) of every credential row.
fn key_rows(app: &TestApp) -> Vec<(String, String, Option<i64>, Option<String>)> {
    use sesame::store::schema::credentials::dsl::*;
    credentials
        .select((factor, name, confirmed_at, lookup))
        .load(&mut app.db.get().unwrap())
        .unwrap()
}

/// Registers a passkey named `name` for the browser's user with `device`; returns the key's id
/// (base64url, as the browser reported it).
async fn add_key(app: &TestApp, browser: &Browser, device: &mut SoftPasskey, name: &str) -> String {
    let res = change(
        app,
        browser,
        "/account/credentials",
        &[("action", "begin"), ("factor", "passkey")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    let id = form_field(&html, "id").expect("the pending registration");
    let answer = register(app, device, &html);
    let res = change(
        app,
        browser,
        "/account/credentials",
        &[
            ("action", "confirm"),
            ("factor", "passkey"),
            ("id", &id),
            ("name", name),
            ("response", &answer),
        ],
    )
    .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert!(location(&res).ends_with("/account/?changed=key_added"));
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    answer["id"].as_str().unwrap().to_string()
}

/// Signs in to `client` with bob's password; returns the passkey page's URL and HTML.
async fn to_key_page(app: &TestApp, browser: &Browser, client: &str) -> (String, String) {
    let res = browser
        .authorize_and_sign_in(&auth_url(app, client, KEY_CB), "bob", BOB_PASSWORD)
        .await;
    let mut url = location(&res);
    if url.contains("/otp?tx=") {
        // The step opens on the factor bob used last; the SMS page offers his passkey.
        let (_, html) = get(browser, &url).await;
        let marker = "href=\"";
        let link = html
            .split(marker)
            .skip(1)
            .map(|s| s[..s.find('"').unwrap()].replace("&#x2f;", "/"))
            .find(|href| href.contains("/passkey?tx="))
            .unwrap_or_else(|| panic!("a passkey link in {html}"));
        url = link;
    }
    assert!(url.contains("/passkey?tx="), "{url}");
    let (status, html) = get(browser, &url).await;
    assert_eq!(status, 200, "{html}");
    (url, html)
}

async fn a_passkey_added_in_the_account_area_is_a_second_step(backend: Backend) {
    let app = setup(&backend).await;
    let bob = bob_with_fresh_chain(&app).await;
    let (_, html) = get(&bob, &format!("{}/account/", app.issuer("acme"))).await;
    assert!(html.contains("id=\"no-passkeys\""), "{html}");
    assert!(html.contains("Add a passkey"), "{html}");

    // The registration page runs one inline script, allowed by its nonce only.
    let res = change(
        &app,
        &bob,
        "/account/credentials",
        &[("action", "begin"), ("factor", "passkey")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'nonce-"), "{csp}");
    assert!(!csp.contains("unsafe-inline'; script") && !csp.contains("script-src 'unsafe"));
    let html = res.text().await.unwrap();
    let nonce = &csp[csp.find("'nonce-").unwrap() + 7..];
    let nonce = &nonce[..nonce.find('\'').unwrap()];
    assert!(
        html.contains(&format!("<script nonce=\"{nonce}\">")),
        "{html}"
    );
    let options = page_options(&html);
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    // Pending until the device answers, with no key id yet.
    let rows = key_rows(&app);
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].2, rows[0].3.clone()), (None, None));

    let mut device = SoftPasskey::new(true);
    let id = form_field(&html, "id").unwrap();
    let answer = register(&app, &mut device, &html);
    let confirm = |name: &'static str, answer: String, id: String| {
        let bob = &bob;
        let app = &app;
        async move {
            change(
                app,
                bob,
                "/account/credentials",
                &[
                    ("action", "confirm"),
                    ("factor", "passkey"),
                    ("id", &id),
                    ("name", name),
                    ("response", &answer),
                ],
            )
            .await
        }
    };
    // A nameless key is not saved: the page asks again (with a new ceremony).
    let res = confirm("  ", answer.clone(), id.clone()).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("Give the passkey a name"), "{html}");
    assert!(key_rows(&app).iter().all(|r| r.2.is_none()));
    // The first ceremony was replaced: its answer no longer registers anything.
    let res = confirm("Laptop", answer, id).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("expired or was used"), "{html}");
    // The page's new ceremony's answer does, once.
    let id = form_field(&html, "id").unwrap();
    let answer = register(&app, &mut device, &html);
    let res = confirm("Laptop", answer.clone(), id.clone()).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).ends_with("/account/?changed=key_added"));
    let rows = key_rows(&app);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].0.as_str(), rows[0].1.as_str()),
        ("passkey", "Laptop")
    );
    assert!(rows[0].2.is_some(), "confirmed");
    assert_eq!(
        rows[0].3.as_ref().map(String::len),
        Some(64),
        "the key id's SHA-256"
    );
    let res = confirm("Laptop", answer, id).await;
    assert_eq!(res.status(), 422, "a registration answer works once");
    assert_eq!(key_rows(&app).iter().filter(|r| r.2.is_some()).count(), 1);
    let (_, html) = get(&bob, &format!("{}/account/", app.issuer("acme"))).await;
    assert!(
        html.contains("id=\"passkeys\"") && html.contains("Laptop, added"),
        "{html}"
    );

    // Signing in: the password, then the passkey (offered from the SMS page bob used last).
    let browser = Browser::default();
    let (url, html) = to_key_page(&app, &browser, "key-web").await;
    assert!(html.contains("Use my passkey"), "{html}");
    // The SMS code stays another way.
    assert!(html.contains("&#x2f;otp?tx="), "{html}");
    let answer = sign(&app, &mut device, &html);
    let res = post_form(
        &browser,
        &url,
        &html,
        &[
            ("factor", "passkey"),
            ("ceremony", &form_field(&html, "ceremony").unwrap()),
            ("response", &answer),
        ],
    )
    .await;
    let code = code_at(&res, KEY_CB);
    let claims = exchange(&app, "key-web", KEY_CB, &code).await;
    assert_eq!(claims["acr"], "urn:sesame:acr:mfa");
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for m in ["pwd", "swk", "user", "mfa"] {
        assert!(amr.contains(&m), "{amr:?}");
    }
    assert!(!amr.contains(&"sms"), "{amr:?}");
    // The key's last use is recorded.
    let (_, html) = get(&bob, &format!("{}/account/", app.issuer("acme"))).await;
    assert!(
        html.contains("Laptop, added") && html.contains("last used"),
        "{html}"
    );

    // Removed, it no longer signs in: the passkey-only step says bob has none.
    let key_id = {
        use sesame::store::schema::credentials::dsl::*;
        credentials
            .filter(confirmed_at.is_not_null())
            .select(id)
            .first::<String>(&mut app.db.get().unwrap())
            .unwrap()
    };
    let res = change(
        &app,
        &bob,
        "/account/credentials",
        &[("action", "remove"), ("id", &key_id)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(key_rows(&app).iter().all(|r| r.2.is_none()), "no key left");
    let browser = Browser::default();
    let res = browser
        .authorize_and_sign_in(&auth_url(&app, "key-only", KEY_CB), "bob", BOB_PASSWORD)
        .await;
    let url = location(&res);
    assert!(url.contains("/passkey?tx="), "{url}");
    let (status, html) = get(&browser, &url).await;
    assert_eq!(status, 200);
    assert!(html.contains("You have not set this up yet"), "{html}");
    assert!(!html.contains("passkey-form"), "{html}");
}

async fn an_answer_is_bound_to_its_ceremony_and_used_once(backend: Backend) {
    let app = setup(&backend).await;
    let bob = bob_with_fresh_chain(&app).await;
    let mut device = SoftPasskey::new(true);
    add_key(&app, &bob, &mut device, "Phone").await;

    let browser = Browser::default();
    let (url, first) = to_key_page(&app, &browser, "key-only").await;
    let old_answer = sign(&app, &mut device, &first);
    // A reload begins a new ceremony: the answer to the old one does not pass the new one.
    let (status, html) = get(&browser, &url).await;
    assert_eq!(status, 200);
    let ceremony = form_field(&html, "ceremony").unwrap();
    assert_ne!(Some(ceremony.clone()), form_field(&first, "ceremony"));
    let post = |html: String, ceremony: String, answer: String| {
        let (browser, url) = (&browser, &url);
        async move {
            post_form(
                browser,
                url,
                &html,
                &[
                    ("factor", "passkey"),
                    ("ceremony", &ceremony),
                    ("response", &answer),
                ],
            )
            .await
        }
    };
    let res = post(html.clone(), ceremony.clone(), old_answer).await;
    assert_eq!(res.status(), 422);
    let refused = res.text().await.unwrap();
    assert!(refused.contains("did not sign you in"), "{refused}");
    // That ceremony is spent: even its own answer is refused now, as over.
    let answer = sign(&app, &mut device, &html);
    let res = post(refused.clone(), ceremony, answer).await;
    assert_eq!(res.status(), 422);
    let over = res.text().await.unwrap();
    assert!(over.contains("already used or took too long"), "{over}");
    // Garbage is refused, not a server error.
    let res = post(
        over.clone(),
        form_field(&over, "ceremony").unwrap(),
        "{\"not\":\"webauthn\"}".into(),
    )
    .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    // The two refused answers counted toward bob's lock; the spent ceremony did not.
    let failures: Vec<i64> = {
        use sesame::store::schema::login_throttle::dsl::*;
        login_throttle
            .select(failures)
            .load(&mut app.db.get().unwrap())
            .unwrap()
    };
    assert!(failures.contains(&2), "{failures:?}");
    // The page's fresh ceremony passes.
    let answer = sign(&app, &mut device, &html);
    let res = post(html.clone(), form_field(&html, "ceremony").unwrap(), answer).await;
    code_at(&res, KEY_CB);
}

async fn a_passkey_alone_signs_in_without_a_username(backend: Backend) {
    let app = setup(&backend).await;
    let bob = bob_with_fresh_chain(&app).await;
    let mut device = SoftPasskey::new(true);
    let key_id = add_key(&app, &bob, &mut device, "Phone").await;
    let bob_handle = *uuid::Uuid::parse_str(&user_id(&app, "bob"))
        .unwrap()
        .as_bytes();
    let carol_handle = *uuid::Uuid::parse_str(&user_id(&app, "carol"))
        .unwrap()
        .as_bytes();

    let browser = Browser::default();
    let res = browser
        .client
        .get(auth_url(&app, "key-first", KEY_CB))
        .send()
        .await
        .unwrap();
    let login = location(&res);
    let (status, html) = get(&browser, &login).await;
    assert_eq!(status, 200);
    // The sign-in page offers the password and a passkey; its one script is allowed by nonce.
    assert!(html.contains("Sign in with a passkey"), "{html}");
    assert!(html.contains("id=\"password\""), "{html}");
    assert!(html.contains("<script nonce=\""), "{html}");
    let key_action = format!("{}/passkey", app.issuer("acme"));
    let post = |html: String, answer: String| {
        let (browser, key_action) = (&browser, &key_action);
        async move {
            post_form(
                browser,
                key_action,
                &html,
                &[
                    ("factor", "passkey"),
                    ("ceremony", &form_field(&html, "ceremony").unwrap()),
                    ("response", &answer),
                ],
            )
            .await
        }
    };
    // bob's key claiming to be carol's: refused on the sign-in page, nobody signed in.
    let answer = sign_as(&app, &mut device, &html, &key_id, &carol_handle);
    let res = post(html.clone(), answer).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"key-error\""), "{html}");
    assert!(html.contains("did not sign you in"), "{html}");
    // Its own user's handle: signed in, both factors proven by the key alone.
    let answer = sign_as(&app, &mut device, &html, &key_id, &bob_handle);
    let res = post(html.clone(), answer.clone()).await;
    let code = code_at(&res, KEY_CB);
    let claims = exchange(&app, "key-first", KEY_CB, &code).await;
    assert_eq!(claims["sub"], user_id(&app, "bob"));
    assert_eq!(claims["acr"], "urn:sesame:acr:mfa");
    assert_eq!(claims["amr"], serde_json::json!(["swk", "user", "mfa"]));
    // The same answer again (its ceremony spent, the sign-in over): no second sign-in.
    let res = post(html, answer).await;
    assert_ne!(res.status(), 303);
}

async fn a_first_passkey_is_created_during_sign_in_when_the_organization_says_so(backend: Backend) {
    let app = setup_with(
        &backend,
        "resend_cooldown_seconds = 0",
        "[organizations.enrollment]\npasskey = \"during_sign_in\"",
    )
    .await;
    // carol has no second factor: a step that opens on SMS (she has no number) offers to create
    // a passkey instead…
    let browser = Browser::default();
    let res = browser
        .authorize_and_sign_in(
            &auth_url(&app, "sms-first", KEY_CB),
            "carol",
            "carols-long-password",
        )
        .await;
    let (_, sms_page) = get(&browser, &location(&res)).await;
    assert!(sms_page.contains("Create a passkey instead"), "{sms_page}");
    // …and the passkey step asks her to create one.
    let browser = Browser::default();
    let res = browser
        .authorize_and_sign_in(
            &auth_url(&app, "key-only", KEY_CB),
            "carol",
            "carols-long-password",
        )
        .await;
    let url = location(&res);
    assert!(url.contains("/passkey?tx="), "{url}");
    let (status, html) = get(&browser, &url).await;
    assert_eq!(status, 200);
    assert!(html.contains("Create a passkey"), "{html}");
    assert!(html.contains("data-ceremony=\"create\""), "{html}");
    let post = |html: String, answer: String| {
        let (browser, url) = (&browser, &url);
        async move {
            post_form(
                browser,
                url,
                &html,
                &[
                    ("factor", "passkey"),
                    ("ceremony", &form_field(&html, "ceremony").unwrap()),
                    ("name", "Carol's phone"),
                    ("response", &answer),
                ],
            )
            .await
        }
    };
    // Not a registration: refused, nothing saved, a new registration offered.
    let res = post(html, "{\"id\":\"x\"}".into()).await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(html.contains("did not sign you in"), "{html}");
    assert!(key_rows(&app).iter().all(|r| r.2.is_none()));
    // The device's answer: the key is saved and the step passes with it.
    let mut device = SoftPasskey::new(true);
    let answer = register(&app, &mut device, &html);
    let code = code_at(&post(html, answer).await, KEY_CB);
    let claims = exchange(&app, "key-only", KEY_CB, &code).await;
    assert_eq!(
        claims["amr"],
        serde_json::json!(["pwd", "swk", "user", "mfa"])
    );
    let rows = key_rows(&app);
    let saved: Vec<_> = rows.iter().filter(|r| r.2.is_some()).collect();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].1, "Carol's phone");
    let changes: Vec<String> = {
        use sesame::store::schema::account_changes::dsl::*;
        account_changes
            .select(change)
            .load(&mut app.db.get().unwrap())
            .unwrap()
    };
    assert!(
        changes.iter().any(|c| c == "credential_added"),
        "{changes:?}"
    );
    // The next sign-in uses it.
    let browser = Browser::default();
    let res = browser
        .authorize_and_sign_in(
            &auth_url(&app, "key-only", KEY_CB),
            "carol",
            "carols-long-password",
        )
        .await;
    let url = location(&res);
    let (_, html) = get(&browser, &url).await;
    assert!(html.contains("data-ceremony=\"get\""), "{html}");
    let answer = sign(&app, &mut device, &html);
    let res = post_form(
        &browser,
        &url,
        &html,
        &[
            ("factor", "passkey"),
            ("ceremony", &form_field(&html, "ceremony").unwrap()),
            ("response", &answer),
        ],
    )
    .await;
    code_at(&res, KEY_CB);
    // bob has a second factor (his number): he is not offered to create a key here.
    let browser = Browser::default();
    let res = browser
        .authorize_and_sign_in(&auth_url(&app, "key-only", KEY_CB), "bob", BOB_PASSWORD)
        .await;
    let (_, html) = get(&browser, &location(&res)).await;
    assert!(html.contains("You have not set this up yet"), "{html}");
    assert!(!html.contains("passkey-form"), "{html}");
}

async fn a_password_alone_never_adds_a_passkey(backend: Backend) {
    // The organization lets a password alone add a first number or app…
    let app = setup_with(
        &backend,
        "resend_cooldown_seconds = 0\nenroll_with_password_only = true",
        "",
    )
    .await;
    let carol = Browser::default();
    let res = carol
        .authorize_and_sign_in(
            &auth_url(&app, "pwd-web", PWD_CB),
            "carol",
            "carols-long-password",
        )
        .await;
    code_at(&res, PWD_CB);
    let (_, html) = get(&carol, &format!("{}/account/", app.issuer("acme"))).await;
    assert!(html.contains("Set up an authenticator app"), "{html}");
    // …but not a passkey, which would then sign in without the password.
    assert!(html.contains("id=\"key-by-admin\""), "{html}");
    let res = change(
        &app,
        &carol,
        "/account/credentials",
        &[("action", "begin"), ("factor", "passkey")],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(key_rows(&app).is_empty());
}

async fn with_the_switch_off_nobody_adds_a_passkey_themselves(backend: Backend) {
    let app = setup_with(
        &backend,
        "resend_cooldown_seconds = 0",
        "[organizations.enrollment]\npasskey = \"off\"",
    )
    .await;
    // Not in the account area, even with a second factor…
    let bob = bob_with_fresh_chain(&app).await;
    let (_, html) = get(&bob, &format!("{}/account/", app.issuer("acme"))).await;
    assert!(html.contains("id=\"key-by-admin\""), "{html}");
    let res = change(
        &app,
        &bob,
        "/account/credentials",
        &[("action", "begin"), ("factor", "passkey")],
    )
    .await;
    assert_eq!(res.status(), 422);
    // …nor during a sign-in: carol, with no second factor, is told she has none.
    let browser = Browser::default();
    let res = browser
        .authorize_and_sign_in(
            &auth_url(&app, "key-only", KEY_CB),
            "carol",
            "carols-long-password",
        )
        .await;
    let (_, html) = get(&browser, &location(&res)).await;
    assert!(html.contains("You have not set this up yet"), "{html}");
    assert!(!html.contains("passkey-form"), "{html}");
    assert!(key_rows(&app).is_empty());
}

async fn without_a_host_name_passkeys_are_not_offered(backend: Backend) {
    // The usual test address, 127.0.0.1, cannot be a WebAuthn relying party.
    let app = TestApp::spawn(&backend).await;
    app.import(&format!(
        "{}\n[[organizations.applications]]\nclient_id = \"key-only\"\ntype = \"confidential\"\nclient_secret = \"{SECRET}\"\nredirect_uris = [\"{KEY_CB}\"]\nsign_in_flow = [[\"password\"], [\"passkey\"]]\n",
        acme_toml("resend_cooldown_seconds = 0", "max_attempts = 20")
    ));
    let bob = bob_with_fresh_chain(&app).await;
    let (_, html) = get(&bob, &format!("{}/account/", app.issuer("acme"))).await;
    assert!(html.contains("id=\"key-by-admin\""), "{html}");
    let res = change(
        &app,
        &bob,
        "/account/credentials",
        &[("action", "begin"), ("factor", "passkey")],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(key_rows(&app).is_empty());
}

/// A key id registered to any account is refused as "registered already": the check before
/// saving, and the unique index behind it for two registrations of one key at once (on
/// PostgreSQL both may pass the check), which the registration maps to the same answer.
async fn a_key_id_is_registered_to_one_account_only(backend: Backend) {
    use sesame::authn::credentials::EnrollError;
    use sesame::store::StoreError;
    use sesame::store::credentials::Credential;
    let app = setup(&backend).await;
    let (bob, carol) = (user_id(&app, "bob"), user_id(&app, "carol"));
    let mut conn = app.db.get().unwrap();
    let pending = |user: &str| Credential {
        id: uuid::Uuid::new_v4().to_string(),
        organization_id: 0,
        user_id: user.to_string(),
        factor: "passkey".into(),
        name: "Passkey".into(),
        sealed: vec![1, 2, 3],
        version: 0,
        created_at: sesame::store::now(),
        confirmed_at: None,
        last_used_at: None,
        lookup: None,
    };
    let org_id: i64 = {
        use sesame::store::schema::users::dsl::*;
        users
            .filter(id.eq(&bob))
            .select(organization_id)
            .first(&mut conn)
            .unwrap()
    };
    let (first, second) = (
        Credential {
            organization_id: org_id,
            ..pending(&bob)
        },
        Credential {
            organization_id: org_id,
            ..pending(&carol)
        },
    );
    Credential::insert(&mut conn, &first).unwrap();
    Credential::insert(&mut conn, &second).unwrap();
    let lookup = sesame::authn::passkeys::lookup_of(b"one key id");
    let now = sesame::store::now();
    assert!(Credential::confirm_key(&mut conn, &first.id, 0, &[4], &lookup, "Key", now).unwrap());
    assert!(Credential::lookup_taken(&mut conn, &lookup).unwrap());
    let again = Credential::confirm_key(&mut conn, &second.id, 0, &[5], &lookup, "Key", now);
    let Err(e) = again else {
        panic!("the same key id saved twice: {again:?}");
    };
    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
    assert!(matches!(
        sesame::authn::passkeys::taken_or(e),
        EnrollError::Taken
    ));
    assert_eq!(
        sesame::authn::passkeys::taken_or(StoreError::Corrupt("x".into())).to_string(),
        EnrollError::Store(StoreError::Corrupt("x".into())).to_string(),
        "other failures stay failures"
    );
}

both_backends!(
    a_key_id_is_registered_to_one_account_only,
    a_passkey_added_in_the_account_area_is_a_second_step,
    an_answer_is_bound_to_its_ceremony_and_used_once,
    a_passkey_alone_signs_in_without_a_username,
    a_first_passkey_is_created_during_sign_in_when_the_organization_says_so,
    a_password_alone_never_adds_a_passkey,
    with_the_switch_off_nobody_adds_a_passkey_themselves,
    without_a_host_name_passkeys_are_not_offered,
);
