//! Authenticator apps (the TOTP plug-in): enrolled in the account area after a fresh pass
//! through the chain, then a second step of an application's flow; each code works once.
//! Codes are computed here with `totp-rs` from the secret the setup page shows, as an app would.

use diesel::prelude::*;

use crate::account::change;
use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, form_field, location, query_of};
use crate::sms_otp::{
    BOB_PASSWORD, MFA_CB, SECRET, acme_toml, exchange, get, last_code, post_form, sql, submit,
};

const TOTP_CB: &str = "https://totp.acme.example/callback";

async fn setup(backend: &Backend) -> TestApp {
    setup_with(backend, "").await
}

/// acme with `extra` appended (e.g. the organization's enrollment switches).
async fn setup_with(backend: &Backend, extra: &str) -> TestApp {
    let app = TestApp::spawn(backend).await;
    let toml = format!(
        r#"{}
[[organizations.applications]]
client_id = "totp-web"
name = "TOTP Web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{TOTP_CB}"]
sign_in_flow = [["password"], ["totp"]]

[[organizations.applications]]
client_id = "choice-web"
name = "Choice Web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{TOTP_CB}"]
sign_in_flow = [["password"], ["sms_otp", "backup_code", "totp"]]
backup_codes = true

[[organizations.applications]]
client_id = "totp-native"
type = "public"
app_native = true
sign_in_flow = [["password"], ["totp"]]
redirect_uris = ["{native_cb}"]
{extra}
"#,
        acme_toml("resend_cooldown_seconds = 0", "max_attempts = 20"),
        native_cb = crate::native::CB,
    );
    app.import(&toml);
    app
}

pub fn auth_url(app: &TestApp, client_id: &str, cb: &str) -> String {
    let mut url = url::Url::parse(&format!("{}/authorize", app.issuer("acme"))).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", cb)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "st");
    url.to_string()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The code an authenticator app shows for `secret` (base32, as the page shows it) at `t`.
fn app_code(secret: &str, t: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret.replace(' ', "")).unwrap();
    totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .unwrap()
        .generate(t)
        .to_string()
}

/// The text between `start` and the next `end`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len();
    &html[from..from + html[from..].find(end).unwrap()]
}

fn event_types(app: &TestApp) -> Vec<String> {
    use sesame::store::schema::event_outbox::dsl::*;
    event_outbox
        .select(event_type)
        .load(&mut app.db.get().unwrap())
        .unwrap()
}

fn credential_rows(app: &TestApp) -> Vec<(String, Vec<u8>, Option<i64>)> {
    use sesame::store::schema::credentials::dsl::*;
    credentials
        .select((factor, sealed, confirmed_at))
        .load(&mut app.db.get().unwrap())
        .unwrap()
}

/// bob signs in to mfa-web with his password and an SMS code: a fresh pass through his chain.
pub async fn bob_with_fresh_chain(app: &TestApp) -> Browser {
    let browser = Browser::default();
    let res = browser
        .authorize_and_sign_in(&auth_url(app, "mfa-web", MFA_CB), "bob", BOB_PASSWORD)
        .await;
    let otp_url = location(&res);
    get(&browser, &otp_url).await;
    let res = submit(&browser, &otp_url, &[("code", &last_code(app))]).await;
    assert!(location(&res).starts_with(MFA_CB));
    browser
}

/// Enrolls an authenticator app for bob; returns its secret as the page showed it.
async fn enroll(app: &TestApp, browser: &Browser) -> String {
    let res = change(
        app,
        browser,
        "/account/credentials",
        &[("action", "begin"), ("factor", "totp")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert!(
        html.contains("<svg") && html.contains("aria-label=\"QR code"),
        "{html}"
    );
    let secret = between(&html, "<code id=\"secret\">", "</code>").to_string();
    assert_eq!(secret.replace(' ', "").len(), 32, "160 bits in base32");
    // Pending until its first code, and sealed: the secret is nowhere in the row.
    let rows = credential_rows(app);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2, None, "pending");
    let raw = secret.replace(' ', "");
    assert!(
        !String::from_utf8_lossy(&rows[0].1).contains(&raw),
        "sealed"
    );

    let id = form_field(&html, "id").expect("the pending credential's id");
    let confirm = |code: String| {
        let (id, browser) = (id.clone(), browser);
        async move {
            change(
                app,
                browser,
                "/account/credentials",
                &[
                    ("action", "confirm"),
                    ("factor", "totp"),
                    ("id", &id),
                    ("code", &code),
                ],
            )
            .await
        }
    };
    // A wrong first code saves nothing.
    let wrong = format!(
        "{:06}",
        (app_code(&secret, now()).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    let res = confirm(wrong).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("That code is not right"));
    assert_eq!(credential_rows(app)[0].2, None, "still pending");
    let res = confirm(app_code(&secret, now())).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).ends_with("/account/?changed=credential_added"));
    assert!(credential_rows(app)[0].2.is_some(), "confirmed");
    secret
}

/// Opens totp-web's sign-in and passes the password as `user`; returns the code page's URL.
async fn to_code_page(app: &TestApp, browser: &Browser, user: &str, password: &str) -> String {
    let res = browser
        .authorize_and_sign_in(&auth_url(app, "totp-web", TOTP_CB), user, password)
        .await;
    let code_url = location(&res);
    assert!(code_url.contains("/code?tx="), "{code_url}");
    code_url
}

async fn an_authenticator_app_enrolled_in_the_account_area_is_a_second_step(backend: Backend) {
    let app = setup(&backend).await;
    let bob = bob_with_fresh_chain(&app).await;
    let (_, html) = get(&bob, &format!("{}/account/", app.issuer("acme"))).await;
    assert!(
        html.contains("You have no authenticator app set up."),
        "{html}"
    );
    // The time step of the code that confirms the enrollment (or the one before): a code of it
    // later is a replay, even when the clock has moved to the next step meanwhile.
    let enrolled_at = now();
    let secret = enroll(&app, &bob).await;
    let added = format!("{}/account/?changed=credential_added", app.issuer("acme"));
    let (_, html) = get(&bob, &added).await;
    assert!(html.contains("Your authenticator app was added."), "{html}");
    assert!(html.contains("Authenticator app, added "), "{html}");
    assert!(
        html.contains("credential added (authenticator app)"),
        "recorded: {html}"
    );
    assert!(event_types(&app).contains(&"CredentialAddedEvent".to_string()));

    // Signing in to totp-web: the password, then the app's code.
    let browser = Browser::default();
    let code_url = to_code_page(&app, &browser, "bob", BOB_PASSWORD).await;
    let (status, html) = get(&browser, &code_url).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Enter the code from your authenticator app"),
        "{html}"
    );
    assert!(html.contains("autocomplete=\"one-time-code\""));
    // The code that confirmed the enrollment was spent with it.
    let res = post_form(
        &browser,
        &code_url,
        &html,
        &[
            ("factor", "totp"),
            ("code", &app_code(&secret, enrolled_at)),
        ],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("That code was already used")
    );
    // A wrong code is refused and counted.
    let next = app_code(&secret, now() + 30);
    let wrong = format!("{:06}", (next.parse::<u32>().unwrap() + 7) % 1_000_000);
    let res = submit(&browser, &code_url, &[("factor", "totp"), ("code", &wrong)]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("That code is not right"));
    // The next time step's code (within one step of drift) passes: back to the client.
    let res = submit(&browser, &code_url, &[("factor", "totp"), ("code", &next)]).await;
    assert!(location(&res).starts_with(TOTP_CB), "{}", location(&res));
    let code = query_of(&location(&res))["code"].clone();
    let claims = exchange(&app, "totp-web", TOTP_CB, &code).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "urn:sesame:acr:mfa");

    // The same code in another sign-in is a replay.
    let other = Browser::default();
    let code_url = to_code_page(&app, &other, "bob", BOB_PASSWORD).await;
    let res = submit(&other, &code_url, &[("factor", "totp"), ("code", &next)]).await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("That code was already used")
    );

    // carol has no app: the step says so and offers no form.
    let carol = Browser::default();
    let code_url = to_code_page(&app, &carol, "carol", "carols-long-password").await;
    let (status, html) = get(&carol, &code_url).await;
    assert_eq!(status, 200);
    assert!(html.contains("You have not set this up yet"), "{html}");
    assert!(!html.contains("name=\"code\""));

    // Removing it: recorded, published, and the step no longer passes for bob.
    let (_, html) = get(&bob, &format!("{}/account/", app.issuer("acme"))).await;
    let id = form_field(&html, "id").expect("the credential's remove form");
    let res = change(
        &app,
        &bob,
        "/account/credentials",
        &[("action", "remove"), ("id", &id)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).ends_with("?changed=credential_removed"));
    assert!(credential_rows(&app).is_empty());
    assert!(event_types(&app).contains(&"CredentialRemovedEvent".to_string()));
    let again = Browser::default();
    let code_url = to_code_page(&app, &again, "bob", BOB_PASSWORD).await;
    let (_, html) = get(&again, &code_url).await;
    assert!(html.contains("You have not set this up yet"), "{html}");
}

both_backends!(an_authenticator_app_enrolled_in_the_account_area_is_a_second_step);

async fn an_authenticator_app_needs_a_fresh_chain_and_a_second_factor_to_add(backend: Backend) {
    let app = setup(&backend).await;
    // carol has no second factor: a password-only session cannot bind an app to her account.
    let carol = Browser::default();
    let res = carol
        .authorize_and_sign_in(
            &auth_url(&app, "pwd-web", crate::sms_otp::PWD_CB),
            "carol",
            "carols-long-password",
        )
        .await;
    assert!(location(&res).starts_with(crate::sms_otp::PWD_CB));
    let res = change(
        &app,
        &carol,
        "/account/credentials",
        &[("action", "begin"), ("factor", "totp")],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("ask your administrator"));
    assert!(credential_rows(&app).is_empty());

    // bob's password-only session is sent to confirm his whole chain first.
    let bob = Browser::default();
    let res = bob
        .authorize_and_sign_in(
            &auth_url(&app, "pwd-web", crate::sms_otp::PWD_CB),
            "bob",
            BOB_PASSWORD,
        )
        .await;
    assert!(location(&res).starts_with(crate::sms_otp::PWD_CB));
    let res = change(
        &app,
        &bob,
        "/account/credentials",
        &[("action", "begin"), ("factor", "totp")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).ends_with("/account/verify"));
    assert!(credential_rows(&app).is_empty());
}

both_backends!(an_authenticator_app_needs_a_fresh_chain_and_a_second_factor_to_add);

async fn the_json_sign_in_api_takes_an_authenticator_app_code(backend: Backend) {
    use crate::native::{start_with, step};
    use serde_json::json;
    let app = setup(&backend).await;
    let secret = enroll(&app, &bob_with_fresh_chain(&app).await).await;
    let (status, started) = start_with(&app, "totp-native", &[]).await;
    assert_eq!(status, 200, "{started}");
    let params = json!({ "username": "bob", "password": BOB_PASSWORD });
    let (status, next) = step(&app, &started["flowId"], "password", params).await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["nextStep"]["kind"], "code", "{next}");
    assert_eq!(
        next["nextStep"]["authenticators"],
        json!([{ "authenticatorId": "totp", "params": ["code"] }])
    );
    assert_eq!(next["nextStep"]["code"]["factor"], "totp");
    assert_eq!(next["nextStep"]["code"]["enrolled"], true);
    // A wrong code: the step again with its error.
    let code = app_code(&secret, now() + 30);
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 3) % 1_000_000);
    let (status, again) = step(&app, &next["flowId"], "totp", json!({ "code": wrong })).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["flowStatus"], "FAIL_INCOMPLETE");
    assert_eq!(again["nextStep"]["error"]["code"], "factor_code_wrong");
    let (status, done) = step(&app, &again["flowId"], "totp", json!({ "code": code })).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["flowStatus"], "SUCCESS_COMPLETED", "{done}");
    assert_eq!(done["amr"], json!(["pwd", "otp", "mfa"]));
}

both_backends!(the_json_sign_in_api_takes_an_authenticator_app_code);

/// Opens choice-web's sign-in as `user`; returns where the password step led.
async fn choice_step(app: &TestApp, user: &str, password: &str) -> (Browser, String) {
    let browser = Browser::default();
    let res = browser
        .authorize_and_sign_in(&auth_url(app, "choice-web", TOTP_CB), user, password)
        .await;
    let next = location(&res);
    (browser, next)
}

async fn a_step_with_several_second_factors_opens_on_the_one_used_last(backend: Backend) {
    let app = setup(&backend).await;
    // Before bob has an app: the SMS page, which does not link to a factor he does not have.
    let (browser, next) = choice_step(&app, "bob", BOB_PASSWORD).await;
    assert!(next.contains("/otp?tx="), "{next}");
    let (_, html) = get(&browser, &next).await;
    assert!(html.contains("Use a backup code instead"), "{html}");
    assert!(
        !html.contains("authenticator app"),
        "no link to an app he lacks: {html}"
    );
    let secret = enroll(&app, &bob_with_fresh_chain(&app).await).await;
    // He signed in with a text message, then set up the app: the step opens on the app, with the
    // text message as the other way.
    let (browser, next) = choice_step(&app, "bob", BOB_PASSWORD).await;
    assert!(next.contains("/code?tx="), "{next}");
    let (_, html) = get(&browser, &next).await;
    assert!(
        html.contains("Use a code sent by text message instead"),
        "{html}"
    );
    assert!(html.contains("Use a backup code instead"), "{html}");
    let res = submit(
        &browser,
        &next,
        &[("factor", "totp"), ("code", &app_code(&secret, now() + 30))],
    )
    .await;
    assert!(location(&res).starts_with(TOTP_CB));
    // A sign-in with a text message since: the SMS page again, however long ago (the choice is
    // kept on the user, not read from codes that are purged).
    bob_with_fresh_chain(&app).await;
    sesame::store::otps::SmsOtp::purge(&mut app.db.get().unwrap()).unwrap();
    sql(&app, "DELETE FROM sms_otps");
    let (browser, next) = choice_step(&app, "bob", BOB_PASSWORD).await;
    assert!(next.contains("/otp?tx="), "{next}");
    let (_, html) = get(&browser, &next).await;
    assert!(
        html.contains("Use your authenticator app instead"),
        "{html}"
    );
    // carol has neither: the step's own page, which says she has no number.
    let (browser, next) = choice_step(&app, "carol", "carols-long-password").await;
    assert!(next.contains("/otp?tx="), "{next}");
    let (_, html) = get(&browser, &next).await;
    assert!(html.contains("no verified mobile number"), "{html}");
}

both_backends!(a_step_with_several_second_factors_opens_on_the_one_used_last);

async fn an_organization_can_enroll_apps_during_sign_in_for_users_without_a_second_factor(
    backend: Backend,
) {
    let app = setup_with(
        &backend,
        "[organizations.enrollment]\ntotp = \"during_sign_in\"",
    )
    .await;
    // carol has no second factor: the step sets up her app.
    let carol = Browser::default();
    let code_url = to_code_page(&app, &carol, "carol", "carols-long-password").await;
    let (status, html) = get(&carol, &code_url).await;
    assert_eq!(status, 200);
    assert!(html.contains("Set up your authenticator app"), "{html}");
    assert!(html.contains("<svg"), "{html}");
    let secret = between(&html, "<code id=\"secret\">", "</code>").to_string();
    let (_, again) = get(&carol, &code_url).await;
    assert!(again.contains(&secret), "the same setup on reload");
    assert_eq!(credential_rows(&app).len(), 1);
    // A wrong first code: the same setup again, with the error, and nothing saved.
    let right = app_code(&secret, now());
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 5) % 1_000_000);
    let res = submit(
        &carol,
        &code_url,
        &[
            ("factor", "totp"),
            ("code", &wrong),
            ("pending", &form_field(&again, "pending").unwrap()),
        ],
    )
    .await;
    assert_eq!(res.status(), 422);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("That code is not right") && html.contains(&secret),
        "{html}"
    );
    assert_eq!(credential_rows(&app)[0].2, None);
    // The right one saves the app and passes the step.
    let res = submit(
        &carol,
        &code_url,
        &[
            ("factor", "totp"),
            ("code", &app_code(&secret, now())),
            ("pending", &form_field(&html, "pending").unwrap()),
        ],
    )
    .await;
    assert!(location(&res).starts_with(TOTP_CB), "{}", location(&res));
    let code = query_of(&location(&res))["code"].clone();
    let claims = exchange(&app, "totp-web", TOTP_CB, &code).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert!(credential_rows(&app)[0].2.is_some(), "confirmed");
    assert!(event_types(&app).contains(&"CredentialAddedEvent".to_string()));
    // Her next sign-in asks for a code of the app, and shows no setup.
    let next = Browser::default();
    let code_url = to_code_page(&app, &next, "carol", "carols-long-password").await;
    let (_, html) = get(&next, &code_url).await;
    assert!(
        html.contains("Enter the code from your authenticator app"),
        "{html}"
    );
    assert!(!html.contains("<svg"));

    // bob has a mobile number: he must use a second factor he has, not enroll here.
    let bob = Browser::default();
    let code_url = to_code_page(&app, &bob, "bob", BOB_PASSWORD).await;
    let (_, html) = get(&bob, &code_url).await;
    assert!(html.contains("You have not set this up yet"), "{html}");
    assert!(!html.contains("<svg"));
    // Through the JSON API, without the page's form: a pending id sent anyway (carol's setup
    // is confirmed; any id) does not enroll him.
    use crate::native::{start_with, step};
    let (_, started) = start_with(&app, "totp-native", &[]).await;
    let params = serde_json::json!({ "username": "bob", "password": BOB_PASSWORD });
    let (_, next) = step(&app, &started["flowId"], "password", params).await;
    assert_eq!(next["nextStep"]["code"]["enrolled"], false, "{next}");
    assert!(next["nextStep"]["code"].get("setup").is_none(), "{next}");
    let params = serde_json::json!({ "code": "123456", "pending": "anything" });
    let (_, again) = step(&app, &next["flowId"], "totp", params).await;
    assert_eq!(
        again["nextStep"]["error"]["code"], "not_enrolled",
        "{again}"
    );
    assert_eq!(credential_rows(&app).len(), 1, "only carol's");
}

both_backends!(an_organization_can_enroll_apps_during_sign_in_for_users_without_a_second_factor);

async fn an_organization_can_switch_self_enrollment_off(backend: Backend) {
    let app = setup_with(&backend, "[organizations.enrollment]\ntotp = \"off\"").await;
    let bob = bob_with_fresh_chain(&app).await;
    let (_, html) = get(&bob, &format!("{}/account/", app.issuer("acme"))).await;
    assert!(html.contains("ask your administrator"), "{html}");
    assert!(!html.contains("value=\"begin\""), "no setup button: {html}");
    let res = change(
        &app,
        &bob,
        "/account/credentials",
        &[("action", "begin"), ("factor", "totp")],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(credential_rows(&app).is_empty());
}

both_backends!(an_organization_can_switch_self_enrollment_off);

async fn wrong_app_codes_lock_the_account_and_a_double_submission_is_not_a_failure(
    backend: Backend,
) {
    let app = TestApp::spawn(&backend).await;
    let toml = format!(
        r#"{}
[[organizations.applications]]
client_id = "totp-web"
name = "TOTP Web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{TOTP_CB}"]
sign_in_flow = [["password"], ["totp"]]
"#,
        acme_toml("resend_cooldown_seconds = 0", "max_attempts = 4")
    );
    app.import(&toml);
    let secret = enroll(&app, &bob_with_fresh_chain(&app).await).await;
    // The same right code twice at once: one passes, the other is refused, and nothing counts
    // as a failure.
    let code = app_code(&secret, now() + 30);
    let (a, b) = (Browser::default(), Browser::default());
    let (url_a, url_b) = (
        to_code_page(&app, &a, "bob", BOB_PASSWORD).await,
        to_code_page(&app, &b, "bob", BOB_PASSWORD).await,
    );
    let ((_, page_a), (_, page_b)) = (get(&a, &url_a).await, get(&b, &url_b).await);
    let fields = [("factor", "totp"), ("code", code.as_str())];
    let (ra, rb) = tokio::join!(
        post_form(&a, &url_a, &page_a, &fields),
        post_form(&b, &url_b, &page_b, &fields)
    );
    let mut statuses = [ra.status().as_u16(), rb.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [303, 422], "one passes");
    assert!(
        !event_types(&app).contains(&"LoginFailedEvent".to_string()),
        "the loser is not a failure"
    );
    // Wrong codes count toward the lock policy like SMS codes: the fourth failure locks.
    let browser = Browser::default();
    let url = to_code_page(&app, &browser, "bob", BOB_PASSWORD).await;
    let mut last = String::new();
    for n in 0..4 {
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 11 + n) % 1_000_000);
        let res = submit(&browser, &url, &[("factor", "totp"), ("code", &wrong)]).await;
        last = res.text().await.unwrap();
    }
    assert!(last.contains("This account is locked"), "{last}");
    assert!(event_types(&app).contains(&"LoginFailedEvent".to_string()));
}

both_backends!(wrong_app_codes_lock_the_account_and_a_double_submission_is_not_a_failure);

async fn another_users_credentials_cannot_be_confirmed_or_removed(backend: Backend) {
    let app = setup(&backend).await;
    let bob = bob_with_fresh_chain(&app).await;
    enroll(&app, &bob).await;
    let bobs_id = {
        use sesame::store::schema::credentials::dsl::*;
        credentials
            .select(id)
            .first::<String>(&mut app.db.get().unwrap())
            .unwrap()
    };
    // mallory (a verified number: a second factor) with a fresh chain of her own.
    let mallory = Browser::default();
    let res = mallory
        .authorize_and_sign_in(
            &auth_url(&app, "mfa-web", MFA_CB),
            "mallory",
            "mallorys-long-password",
        )
        .await;
    let otp_url = location(&res);
    get(&mallory, &otp_url).await;
    let res = submit(&mallory, &otp_url, &[("code", &last_code(&app))]).await;
    assert!(location(&res).starts_with(MFA_CB));
    let res = change(
        &app,
        &mallory,
        "/account/credentials",
        &[("action", "remove"), ("id", &bobs_id)],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("not one of yours"));
    let res = change(
        &app,
        &mallory,
        "/account/credentials",
        &[
            ("action", "confirm"),
            ("factor", "totp"),
            ("id", &bobs_id),
            ("code", "123456"),
        ],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("This setup has expired"));
    assert_eq!(credential_rows(&app).len(), 1, "bob's is untouched");
}

both_backends!(another_users_credentials_cannot_be_confirmed_or_removed);

/// The links of a page's "Try another way" list, and the page without that list.
fn other_ways(html: &str) -> (Vec<String>, String) {
    let start = html
        .find(r#"<section class="other-ways""#)
        .expect("the list");
    let end = start + html[start..].find("</section>").unwrap();
    let list = &html[start..end];
    assert!(list.contains("Try another way"), "{list}");
    let items = list
        .split("<li>")
        .skip(1)
        .map(|li| {
            let text = li.split('>').nth(1).unwrap();
            text.split('<').next().unwrap().to_string()
        })
        .collect();
    (items, format!("{}{}", &html[..start], &html[end..]))
}

async fn the_other_factors_a_user_has_are_one_list(backend: Backend) {
    let app = setup(&backend).await;
    enroll(&app, &bob_with_fresh_chain(&app).await).await;
    // The app's page (bob used it last): the text message and the backup code, nothing else.
    let (browser, next) = choice_step(&app, "bob", BOB_PASSWORD).await;
    assert!(next.contains("/code?tx="), "{next}");
    let (_, html) = get(&browser, &next).await;
    let (ways, rest) = other_ways(&html);
    assert_eq!(
        ways,
        [
            "Use a code sent by text message instead",
            "Use a backup code instead"
        ]
    );
    assert!(
        !rest.contains("instead"),
        "no link outside the list: {rest}"
    );
    // The backup-code page lists the other two.
    let backup = next.replace("/code?", "/backup-code?");
    let (status, html) = get(&browser, &backup).await;
    assert_eq!(status, 200, "{html}");
    let (ways, _) = other_ways(&html);
    assert_eq!(
        ways,
        [
            "Use your authenticator app instead",
            "Use a code sent by text message instead"
        ]
    );
}

both_backends!(the_other_factors_a_user_has_are_one_list);

/// The code an app following `algorithm`, 8 digits and 60-second steps shows for `secret`.
fn app_code_with(secret: &str, algorithm: totp_rs::Algorithm, t: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret.replace(' ', "")).unwrap();
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_algorithm(algorithm)
        .with_digits(8)
        .with_step_duration(60)
        .build()
        .unwrap()
        .generate(t)
        .to_string()
}

async fn an_organization_chooses_the_parameters_of_new_apps(backend: Backend) {
    let app = setup_with(
        &backend,
        "[organizations.factors.totp]\nalgorithm = \"SHA256\"\ndigits = 8\nperiod = 60",
    )
    .await;
    let bob = bob_with_fresh_chain(&app).await;
    let res = change(
        &app,
        &bob,
        "/account/credentials",
        &[("action", "begin"), ("factor", "totp")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("the 8-digit code"), "{html}");
    let secret = between(&html, "<code id=\"secret\">", "</code>").to_string();
    assert_eq!(secret.replace(' ', "").len(), 52, "256 bits for SHA-256");
    let id = form_field(&html, "id").unwrap();
    // A SHA-1 app's code (what an app ignoring the parameters would show) is refused.
    let sha1 = app_code_with(&secret, totp_rs::Algorithm::SHA1, now());
    let confirm = |code: String| {
        let (id, bob) = (id.clone(), &bob);
        let app = &app;
        async move {
            change(
                app,
                bob,
                "/account/credentials",
                &[
                    ("action", "confirm"),
                    ("factor", "totp"),
                    ("id", &id),
                    ("code", &code),
                ],
            )
            .await
        }
    };
    assert_eq!(confirm(sha1).await.status(), 422);
    let code = app_code_with(&secret, totp_rs::Algorithm::SHA256, now());
    assert_eq!(code.len(), 8);
    assert_eq!(confirm(code).await.status(), 303);

    // Signing in takes the app's 8-digit SHA-256 codes of 60-second steps.
    let browser = Browser::default();
    let code_url = to_code_page(&app, &browser, "bob", BOB_PASSWORD).await;
    let (_, page) = get(&browser, &code_url).await;
    assert!(page.contains("enter the code it shows"), "{page}");
    let code = app_code_with(&secret, totp_rs::Algorithm::SHA256, now() + 60);
    let res = submit(&browser, &code_url, &[("factor", "totp"), ("code", &code)]).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with(TOTP_CB), "{}", location(&res));

    // Settings a plug-in refuses, or for a factor without settings, stop the import.
    for (extra, message) in [
        (
            "[organizations.factors.totp]\ndigits = 5",
            "factors.totp: digits: 5 is out of range 6-8",
        ),
        (
            "[organizations.factors.sms_otp]\nlength = 6",
            "factors.sms_otp: 'sms_otp' takes no settings here: use totp",
        ),
    ] {
        let toml = format!(
            "{}\n{extra}\n",
            acme_toml("resend_cooldown_seconds = 0", "max_attempts = 20")
        );
        let path = app.write_file("bad.toml", &toml);
        let out = app.cli(&["import", path.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{err}");
    }
}

both_backends!(an_organization_chooses_the_parameters_of_new_apps);
