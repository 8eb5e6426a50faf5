//! The authenticator chain end to end: password then SMS OTP (or a backup code) to tokens, and
//! every rule of the OTP lifecycle, on both backends. Codes are read from the in-process capture
//! channel, as a user would read them from their phone.

use diesel::RunQueryDsl;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{
    Backend, Browser, TestApp, form_field, location, payload, query_of, stderr, stdout, wait_for,
};

pub const MFA_CB: &str = "https://mfa.acme.example/callback";
pub const PWD_CB: &str = "https://pwd.acme.example/callback";
pub const SECRET: &str = "a-client-secret-for-the-acme-mfa-tests-0123";
pub const BOB_PASSWORD: &str = "bobs-long-password";

/// acme with two applications: `mfa-web` (password -> SMS OTP or backup code) and `pwd-web`
/// (password only); bob has a verified mobile number, carol none. `otp` and `policy` are TOML
/// lines for the organization's SMS OTP settings and lock policy.
pub fn acme_toml(otp: &str, policy: &str) -> String {
    format!(
        r#"
[[organizations]]
slug = "acme"
display_name = "Acme Corp"
[organizations.sms_otp]
{otp}
[organizations.lock_policy]
{policy}

[[organizations.applications]]
client_id = "mfa-web"
name = "MFA Web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{MFA_CB}"]
sign_in_flow = "username_password_sms_otp"
backup_codes = true

[[organizations.applications]]
client_id = "pwd-web"
name = "Password Web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{PWD_CB}"]

[[organizations.users]]
username = "bob"
password = "{BOB_PASSWORD}"
phone_number = "+44 7400 900123"
phone_number_verified = true

[[organizations.users]]
username = "carol"
password = "carols-long-password"

[[organizations.users]]
username = "mallory"
password = "mallorys-long-password"
phone_number = "+44 7400 900999"
phone_number_verified = true
"#
    )
}

pub async fn setup(backend: &Backend, otp: &str, policy: &str) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.import(&acme_toml(otp, policy));
    app
}

/// Settings most tests use: no cooldown between sends, a lock far away.
pub async fn setup_default(backend: &Backend) -> TestApp {
    setup(backend, "resend_cooldown_seconds = 0", "max_attempts = 20").await
}

pub fn auth_url(app: &TestApp, client_id: &str, extra: &[(&str, &str)]) -> String {
    let cb = if client_id == "mfa-web" {
        MFA_CB
    } else {
        PWD_CB
    };
    let mut url = url::Url::parse(&format!("{}/authorize", app.issuer("acme"))).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", cb)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "st");
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    url.to_string()
}

/// Whether `browser` has a session at acme: an authorization of `pwd-web` answers with a code
/// at once.
pub async fn signed_in(app: &TestApp, browser: &Browser) -> bool {
    let res = browser
        .client
        .get(auth_url(app, "pwd-web", &[]))
        .send()
        .await
        .unwrap();
    location(&res).starts_with(PWD_CB)
}

/// Starts an authorization of `client_id` and passes the password step as `username`; returns
/// the response to the password form.
pub async fn password_step(
    app: &TestApp,
    browser: &Browser,
    client_id: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    browser
        .authorize_and_sign_in(&auth_url(app, client_id, &[]), username, password)
        .await
}

/// Password step as bob for mfa-web; returns the OTP page's URL.
async fn to_otp_page(app: &TestApp, browser: &Browser) -> String {
    let res = password_step(app, browser, "mfa-web", "bob", BOB_PASSWORD).await;
    assert_eq!(res.status(), 303);
    let next = location(&res);
    assert!(next.contains("/otp?tx="), "the OTP step follows: {next}");
    next
}

pub async fn get(browser: &Browser, url: &str) -> (u16, String) {
    let res = browser.client.get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Loads `page_url` and posts its form with `fields` added.
pub async fn submit(
    browser: &Browser,
    page_url: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (status, html) = get(browser, page_url).await;
    assert_eq!(status, 200, "{html}");
    post_form(browser, page_url, &html, fields).await
}

/// Posts the form of an already loaded page (its tx and csrf) with `fields` added.
pub async fn post_form(
    browser: &Browser,
    page_url: &str,
    html: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("tx".to_string(), form_field(html, "tx").expect("tx")),
        ("csrf".to_string(), form_field(html, "csrf").expect("csrf")),
    ];
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let action = page_url.split('?').next().unwrap();
    browser
        .client
        .post(action)
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The code in the last text message sent.
pub fn last_code(app: &TestApp) -> String {
    let sent = app.sms.sent();
    let body = &sent.last().expect("a text message was sent").body;
    let start = body.find(" is ").expect("the default template") + 4;
    body[start..].split('.').next().unwrap().to_string()
}

pub async fn exchange(app: &TestApp, client_id: &str, cb: &str, code: &str) -> Value {
    let body = token_response(app, client_id, cb, code).await;
    payload(body["id_token"].as_str().unwrap())
}

/// The token endpoint's answer to a code exchange (which must succeed).
pub async fn token_response(app: &TestApp, client_id: &str, cb: &str, code: &str) -> Value {
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth(client_id, Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", cb),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// The response went back to `cb` with a code; returns the code.
pub fn code_at(res: &reqwest::Response, cb: &str) -> String {
    assert_eq!(res.status(), 303);
    let to = location(res);
    assert!(to.starts_with(cb), "back to the client: {to}");
    query_of(&to)
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {to}"))
}

pub fn sql(app: &TestApp, statement: &str) {
    diesel::sql_query(statement)
        .execute(&mut app.db.get().unwrap())
        .unwrap();
}

async fn password_then_sms_otp_to_tokens(backend: Backend) {
    let app = setup(&backend, "", "").await;
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    let (status, html) = get(&browser, &otp_url).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("mobile number <strong>*") && html.contains("0123</strong>"),
        "{html}"
    );
    assert!(
        !html.contains("7400"),
        "only the last four digits are shown"
    );
    assert!(html.contains(r#"autocomplete="one-time-code""#));
    assert!(html.contains(r#"inputmode="numeric""#));
    assert!(html.contains("backup-code?tx="), "backup codes are offered");
    // The first visit sent one code; reloading sends none.
    get(&browser, &otp_url).await;
    let sent = app.sms.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "+447400900123");
    let code = last_code(&app);
    assert_eq!(code.len(), 6);
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(
        sent[0].body,
        format!("Your one-time password for the MFA Web is {code}. This expires in 5 minutes.")
    );
    // The default cooldown: no new code right away.
    let res = submit(&browser, &otp_url, &[("action", "resend")]).await;
    assert!(res.text().await.unwrap().contains("Please wait"));
    assert_eq!(app.sms.sent().len(), 1);

    // The code is stored only as a keyed hash.
    let mut conn = app.db.get().unwrap();
    let hashes: Vec<Vec<u8>> = {
        use diesel::prelude::*;
        use sesame::store::schema::sms_otps::dsl::*;
        sms_otps.select(code_hash).load(&mut conn).unwrap()
    };
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0].len(), 32);
    assert!(!String::from_utf8_lossy(&hashes[0]).contains(&code));

    // The event for webhook subscribers is in the outbox, sealed.
    let org = sesame::store::organizations::Organization::find_by_slug(&mut conn, "acme")
        .unwrap()
        .unwrap();
    let events = sesame::store::events::OutboxEvent::list(&mut conn, org.id, 10).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "SmsOtpNotificationEvent");
    assert!(events[0].sealed && events[0].expires_at.is_some());
    assert!(!String::from_utf8_lossy(&events[0].payload).contains(&code));
    let event = sesame::events::open_payload(app.state.keys.kek(), &events[0]).unwrap();
    assert_eq!(
        event["event"]["urn:ietf:params:notifications:smsOtp"]["sendTo"],
        "+447400900123"
    );
    assert_eq!(
        event["event"]["urn:ietf:params:notifications:smsOtp"]["organizationId"],
        org.id
    );
    assert_eq!(
        event["event"]["urn:ietf:params:notifications:smsOtp"]["organizationName"],
        "Acme Corp"
    );
    assert_eq!(
        event["event"]["urn:ietf:params:notifications:smsOtp"]["messageBody"],
        sent[0].body.as_str()
    );
    assert_eq!(
        event["aud"],
        format!("{}/websubhub/topics/acme/NOTIFICATIONS", app.address)
    );
    assert!(!sesame::events::redacted(&event).to_string().contains(&code));

    // Spaces typed in the code are fine.
    let spaced = format!("{} {}", &code[..3], &code[3..]);
    let res = submit(&browser, &otp_url, &[("code", &spaced)]).await;
    let claims = exchange(&app, "mfa-web", MFA_CB, &code_at(&res, MFA_CB)).await;
    assert_eq!(
        claims["amr"],
        serde_json::json!(["pwd", "sms", "otp", "mfa"])
    );
    assert_eq!(claims["acr"], "urn:sesame:acr:mfa");

    // The page of a finished sign-in is gone; the code does not work again.
    let (status, _) = get(&browser, &otp_url).await;
    assert_eq!(status, 400);
    // Nor in another sign-in: codes are bound to their sign-in.
    let other = Browser::default();
    let otp2 = to_otp_page(&app, &other).await;
    let res = submit(&other, &otp2, &[("code", &code)]).await;
    let html = res.text().await.unwrap();
    assert!(
        html.contains("not right") || last_code(&app) == code,
        "an old code is refused: {html}"
    );
}

async fn wrong_codes_show_attempts_left_then_void_the_code(backend: Backend) {
    let app = setup_default(&backend).await;
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    get(&browser, &otp_url).await;
    let code = last_code(&app);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for expected in [
        "2 attempts left",
        "1 attempt left",
        "this code no longer works",
    ] {
        let res = submit(&browser, &otp_url, &[("code", wrong)]).await;
        assert_eq!(res.status(), 422);
        let html = res.text().await.unwrap();
        assert!(html.contains(expected), "{expected}: {html}");
    }
    // Now even the right code is refused: the OTP is void.
    let res = submit(&browser, &otp_url, &[("code", &code)]).await;
    let html = res.text().await.unwrap();
    assert!(html.contains("no longer works"), "{html}");
    // A new code works.
    let res = submit(&browser, &otp_url, &[("action", "resend")]).await;
    assert!(res.text().await.unwrap().contains("We sent a new code"));
    let fresh = last_code(&app);
    let res = submit(&browser, &otp_url, &[("code", &fresh)]).await;
    code_at(&res, MFA_CB);
}

async fn an_expired_code_is_refused(backend: Backend) {
    let app = setup_default(&backend).await;
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    get(&browser, &otp_url).await;
    let code = last_code(&app);
    sql(&app, "UPDATE sms_otps SET expires_at = expires_at - 301");
    let res = submit(&browser, &otp_url, &[("code", &code)]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("This code has expired"));
}

async fn a_resend_voids_the_previous_code_and_resends_are_limited(backend: Backend) {
    let app = setup(
        &backend,
        "resend_cooldown_seconds = 0\nresend_attempts = 2\nresend_block_seconds = 2",
        "max_attempts = 20",
    )
    .await;
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    get(&browser, &otp_url).await;
    let first = last_code(&app);
    for _ in 0..2 {
        let res = submit(&browser, &otp_url, &[("action", "resend")]).await;
        assert!(res.text().await.unwrap().contains("We sent a new code"));
    }
    assert_eq!(app.sms.sent().len(), 3);
    let latest = last_code(&app);
    // The third resend within the hour is blocked, with the time it ends.
    let res = submit(&browser, &otp_url, &[("action", "resend")]).await;
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Too many new codes") && html.contains("You can ask again after"),
        "{html}"
    );
    assert_eq!(app.sms.sent().len(), 3, "nothing sent while blocked");
    // The first code was replaced: refused (unless chance made it equal to the latest).
    if first != latest {
        let res = submit(&browser, &otp_url, &[("code", &first)]).await;
        assert!(res.text().await.unwrap().contains("not right"));
    }
    // The guide's block (`resend_block_seconds`) ends, but the hour still holds three codes:
    // the count does not start again (the finding: ~66 texts an hour that way).
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let res = submit(&browser, &otp_url, &[("action", "resend")]).await;
    assert!(res.text().await.unwrap().contains("Too many new codes"));
    assert_eq!(app.sms.sent().len(), 3, "still blocked within the hour");
    let res = submit(&browser, &otp_url, &[("code", &latest)]).await;
    code_at(&res, MFA_CB);
}

async fn repeated_failures_lock_the_account_until_the_duration_passes(backend: Backend) {
    let app = setup(
        &backend,
        "resend_cooldown_seconds = 0\nmax_failed_attempts = 5",
        "max_attempts = 3\nduration_seconds = 2",
    )
    .await;
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    get(&browser, &otp_url).await;
    let code = last_code(&app);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..2 {
        let res = submit(&browser, &otp_url, &[("code", wrong)]).await;
        assert_eq!(res.status(), 422);
    }
    let res = submit(&browser, &otp_url, &[("code", wrong)]).await;
    assert_eq!(res.status(), 403);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Account locked") && html.contains("Try again after"),
        "{html}"
    );
    // Locked everywhere: this page, the right code, and a new password sign-in.
    let (status, _) = get(&browser, &otp_url).await;
    assert_eq!(status, 403);
    let other = Browser::default();
    let res = password_step(&app, &other, "mfa-web", "bob", BOB_PASSWORD).await;
    assert_eq!(res.status(), 403);
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let res = submit(&browser, &otp_url, &[("code", &code)]).await;
    code_at(&res, MFA_CB);
}

/// Runs `sesame backup-codes` for bob and returns the printed codes.
fn generate_backup_codes(app: &TestApp) -> Vec<String> {
    let out = app.cli(&["backup-codes", "--org", "acme", "--user", "bob"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let codes: Vec<String> = stdout(&out)
        .lines()
        .skip(1)
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(codes.len(), 10, "{}", stdout(&out));
    codes
}

async fn a_backup_code_passes_the_sms_otp_step_once(backend: Backend) {
    let app = setup_default(&backend).await;
    let codes = generate_backup_codes(&app);
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    let backup_url = otp_url.replace("/otp?", "/backup-code?");
    let (status, html) = get(&browser, &backup_url).await;
    assert_eq!(status, 200);
    assert!(html.contains("Use a backup code"));
    let res = post_form(
        &browser,
        &backup_url,
        &html,
        &[("code", &codes[0].to_uppercase())],
    )
    .await;
    let claims = exchange(&app, "mfa-web", MFA_CB, &code_at(&res, MFA_CB)).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "urn:sesame:acr:mfa");

    // The same code again, in a new sign-in: refused.
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    let backup_url = otp_url.replace("/otp?", "/backup-code?");
    let res = submit(&browser, &backup_url, &[("code", &codes[0])]).await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("not valid or was already used")
    );
    // A new set voids the old one.
    let fresh = generate_backup_codes(&app);
    let res = submit(&browser, &backup_url, &[("code", &codes[1])]).await;
    assert_eq!(res.status(), 422, "a code of the old set");
    let res = submit(&browser, &backup_url, &[("code", &fresh[0])]).await;
    code_at(&res, MFA_CB);
}

async fn flows_are_validated_at_import(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let file = |flow: &str, backup: bool| {
        format!(
            "[[organizations]]\nslug = \"acme\"\n[[organizations.applications]]\nclient_id = \"x\"\ntype = \"public\"\nredirect_uris = [\"https://x.example/cb\"]\nsign_in_flow = {flow}\nbackup_codes = {backup}\n"
        )
    };
    for (flow, backup, message) in [
        (
            r#"[["sms_otp"]]"#,
            false,
            "SMS OTP cannot be the first step",
        ),
        (
            r#"[["sms_otp"], ["password"]]"#,
            false,
            "SMS OTP cannot be the first step",
        ),
        (
            r#"[["password"], ["sms_otp", "backup_code"]]"#,
            false,
            "backup codes enabled",
        ),
        (
            r#"[["password"], ["backup_code"]]"#,
            true,
            "only offered beside sms_otp",
        ),
        (r#""password_then_magic""#, false, "is not a preset"),
        (
            r#""username_password""#,
            true,
            "backup codes are offered on the SMS OTP step",
        ),
    ] {
        let path = app.write_file("flow.toml", &file(flow, backup));
        let out = app.cli(&["import", path.to_str().unwrap()]);
        assert!(!out.status.success(), "{flow} accepted");
        let err = stderr(&out);
        assert!(
            err.contains(message) && err.contains("applications[0] (x)"),
            "{flow}: {err}"
        );
    }
    let bad_settings = "[[organizations]]\nslug = \"acme\"\n[organizations.sms_otp]\nlength = 4\n";
    let path = app.write_file("otp.toml", bad_settings);
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(stderr(&out).contains("sms_otp") && stderr(&out).contains("length"));
}

async fn a_user_without_a_mobile_number_gets_a_clear_page(backend: Backend) {
    let app = setup_default(&backend).await;
    let browser = Browser::default();
    let res = password_step(&app, &browser, "mfa-web", "carol", "carols-long-password").await;
    let otp_url = location(&res);
    let (status, html) = get(&browser, &otp_url).await;
    assert_eq!(status, 200);
    assert!(html.contains("no verified mobile number"), "{html}");
    assert!(html.contains("backup code"), "the backup path is offered");
    assert!(app.sms.sent().is_empty());
    assert!(!html.contains("name=\"code\""), "no code to enter");
    let (status, html) = get(&browser, &otp_url.replace("/otp?", "/backup-code?")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Use a backup code"));
}

async fn a_failed_send_says_so(backend: Backend) {
    let app = setup_default(&backend).await;
    app.sms.set_failing(true);
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    let (status, html) = get(&browser, &otp_url).await;
    assert_eq!(status, 422);
    assert!(html.contains("could not send the code"), "{html}");
    app.sms.set_failing(false);
    let res = submit(&browser, &otp_url, &[("action", "resend")]).await;
    assert!(res.text().await.unwrap().contains("We sent a new code"));
    let res = submit(&browser, &otp_url, &[("code", &last_code(&app))]).await;
    code_at(&res, MFA_CB);
}

async fn the_same_right_code_submitted_twice_at_once_passes_once(backend: Backend) {
    let app = setup_default(&backend).await;
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    let (_, html) = get(&browser, &otp_url).await;
    let code = last_code(&app);
    let fields = [("code", code.as_str())];
    let (a, b) = tokio::join!(
        post_form(&browser, &otp_url, &html, &fields),
        post_form(&browser, &otp_url, &html, &fields),
    );
    let passed = [&a, &b]
        .iter()
        .filter(|r| r.status() == 303 && location(r).starts_with(MFA_CB))
        .count();
    assert_eq!(passed, 1, "{} {}", a.status(), b.status());
}

async fn step_up_runs_only_the_missing_step(backend: Backend) {
    let app = setup_default(&backend).await;
    let browser = Browser::default();
    // A password-only session, from the password-only application.
    let res = password_step(&app, &browser, "pwd-web", "bob", BOB_PASSWORD).await;
    let claims = exchange(&app, "pwd-web", PWD_CB, &code_at(&res, PWD_CB)).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["acr"], "urn:sesame:acr:password");
    let sid = claims["sid"].clone();

    // It never satisfies the MFA application: prompt=none gets interaction_required.
    let res = browser
        .client
        .get(auth_url(&app, "mfa-web", &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    let to = query_of(&location(&res));
    assert_eq!(to["error"], "interaction_required");
    assert_eq!(to["state"], "st");

    // Interactively, only the OTP step runs: no password page.
    let res = browser
        .client
        .get(auth_url(&app, "mfa-web", &[]))
        .send()
        .await
        .unwrap();
    let otp_url = location(&res);
    assert!(otp_url.contains("/otp?tx="), "{otp_url}");
    get(&browser, &otp_url).await;
    let res = submit(&browser, &otp_url, &[("code", &last_code(&app))]).await;
    let claims = exchange(&app, "mfa-web", MFA_CB, &code_at(&res, MFA_CB)).await;
    assert_eq!(
        claims["amr"],
        serde_json::json!(["pwd", "sms", "otp", "mfa"])
    );
    assert_eq!(claims["sid"], sid, "the same session, stepped up");

    // Now the session satisfies both applications silently.
    for (client, cb) in [("mfa-web", MFA_CB), ("pwd-web", PWD_CB)] {
        let res = browser
            .client
            .get(auth_url(&app, client, &[("prompt", "none")]))
            .send()
            .await
            .unwrap();
        let claims = exchange(&app, client, cb, &code_at(&res, cb)).await;
        assert_eq!(claims["acr"], "urn:sesame:acr:mfa");
    }

    // prompt=login is a full new sign-in: the password page again.
    let res = browser
        .client
        .get(auth_url(&app, "mfa-web", &[("prompt", "login")]))
        .send()
        .await
        .unwrap();
    assert!(location(&res).contains("/login?tx="));
}

async fn acr_values_for_mfa_step_up_a_password_only_application(backend: Backend) {
    let app = setup_default(&backend).await;
    let browser = Browser::default();
    let res = password_step(&app, &browser, "pwd-web", "bob", BOB_PASSWORD).await;
    code_at(&res, PWD_CB);
    let res = browser
        .client
        .get(auth_url(
            &app,
            "pwd-web",
            &[("acr_values", "urn:sesame:acr:mfa")],
        ))
        .send()
        .await
        .unwrap();
    let otp_url = location(&res);
    assert!(otp_url.contains("/otp?tx="), "{otp_url}");
    let (_, html) = get(&browser, &otp_url).await;
    assert!(
        !html.contains("backup-code?tx="),
        "pwd-web has no backup codes"
    );
    let res = submit(&browser, &otp_url, &[("code", &last_code(&app))]).await;
    let claims = exchange(&app, "pwd-web", PWD_CB, &code_at(&res, PWD_CB)).await;
    assert_eq!(claims["acr"], "urn:sesame:acr:mfa");
}

async fn the_second_factor_pages_need_their_sign_in(backend: Backend) {
    let app = setup_default(&backend).await;
    let browser = Browser::default();
    // Before the password step, the OTP page of a transaction does not open.
    let res = browser
        .client
        .get(auth_url(&app, "mfa-web", &[]))
        .send()
        .await
        .unwrap();
    let login = location(&res);
    let otp_url = login.replace("/login?", "/otp?");
    let (status, _) = get(&browser, &otp_url).await;
    assert_eq!(status, 400);
    assert!(app.sms.sent().is_empty());
    // After it, another browser cannot use it.
    let otp_url = to_otp_page(&app, &browser).await;
    let (status, _) = get(&Browser::default(), &otp_url).await;
    assert_eq!(status, 400);
    // A form without its CSRF token is refused.
    let res = browser
        .client
        .post(otp_url.split('?').next().unwrap())
        .form(&[
            ("tx", query_of(&otp_url)["tx"].as_str()),
            ("code", "123456"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

both_backends!(
    password_then_sms_otp_to_tokens,
    wrong_codes_show_attempts_left_then_void_the_code,
    an_expired_code_is_refused,
    a_resend_voids_the_previous_code_and_resends_are_limited,
    repeated_failures_lock_the_account_until_the_duration_passes,
    a_backup_code_passes_the_sms_otp_step_once,
    flows_are_validated_at_import,
    a_user_without_a_mobile_number_gets_a_clear_page,
    a_failed_send_says_so,
    the_same_right_code_submitted_twice_at_once_passes_once,
    step_up_runs_only_the_missing_step,
    acr_values_for_mfa_step_up_a_password_only_application,
    the_second_factor_pages_need_their_sign_in,
);

async fn wrong_backup_codes_count_toward_the_lock(backend: Backend) {
    let app = setup(&backend, "", "max_attempts = 2\nduration_seconds = 60").await;
    let codes = generate_backup_codes(&app);
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    let backup_url = otp_url.replace("/otp?", "/backup-code?");
    let res = submit(&browser, &backup_url, &[("code", "aaaaa-aaaaa")]).await;
    assert_eq!(res.status(), 422);
    let res = submit(&browser, &backup_url, &[("code", "bbbbb-bbbbb")]).await;
    assert_eq!(res.status(), 403);
    assert!(res.text().await.unwrap().contains("Account locked"));
    // Locked: even a right code is not checked now, and stays unused.
    let (status, _) = get(&browser, &backup_url).await;
    assert_eq!(status, 403);
    let conn = &mut app.db.get().unwrap();
    let org = sesame::store::organizations::Organization::find_by_slug(conn, "acme")
        .unwrap()
        .unwrap();
    let bob = sesame::store::users::User::find_by_username(
        conn,
        org.id,
        &sesame::domain::Username::parse("bob").unwrap(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        sesame::store::backup_codes::remaining(conn, &bob.id).unwrap(),
        codes.len() as i64
    );
    let changes = sesame::store::account_changes::AccountChange::of_user(conn, &bob.id).unwrap();
    assert_eq!(
        changes[0].change, "backup_codes_generated",
        "the CLI's set is recorded"
    );
}

both_backends!(wrong_backup_codes_count_toward_the_lock);

async fn who_signs_in_cannot_change_halfway(backend: Backend) {
    let app = setup_default(&backend).await;
    let browser = Browser::default();
    // Mallory passes her password; the code goes to her phone.
    let res = browser
        .client
        .get(auth_url(&app, "mfa-web", &[]))
        .send()
        .await
        .unwrap();
    let login = location(&res);
    let res = browser
        .sign_in(&login, "mallory", "mallorys-long-password")
        .await;
    let otp_url = location(&res);
    get(&browser, &otp_url).await;
    let mallorys_code = last_code(&app);
    // The password page of that sign-in is closed now: she cannot become bob there.
    let (status, _) = get(&browser, &login).await;
    assert_eq!(status, 400);
    let res = browser
        .client
        .post(login.split('?').next().unwrap())
        .form(&[
            ("tx", query_of(&login)["tx"].as_str()),
            ("csrf", "x"),
            ("username", "bob"),
            ("password", BOB_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // Her code signs in mallory, and nobody else.
    let res = submit(&browser, &otp_url, &[("code", &mallorys_code)]).await;
    let claims = exchange(&app, "mfa-web", MFA_CB, &code_at(&res, MFA_CB)).await;
    let mallory = claims["sub"].clone();
    let bob_session = Browser::default();
    let res = password_step(&app, &bob_session, "pwd-web", "bob", BOB_PASSWORD).await;
    let bob = exchange(&app, "pwd-web", PWD_CB, &code_at(&res, PWD_CB)).await["sub"].clone();
    assert_ne!(mallory, bob);
}

async fn first_codes_count_toward_the_send_limit(backend: Backend) {
    let app = setup(
        &backend,
        "resend_cooldown_seconds = 0\nresend_attempts = 1\nresend_block_seconds = 300",
        "max_attempts = 20",
    )
    .await;
    // Every new sign-in sends a first code; the user's sends are limited all the same.
    for n in 0..3 {
        let browser = Browser::default();
        let otp_url = to_otp_page(&app, &browser).await;
        let (status, html) = get(&browser, &otp_url).await;
        if n < 2 {
            assert_eq!(status, 200, "{html}");
        } else {
            assert_eq!(status, 422);
            assert!(html.contains("You can ask again after"), "{html}");
        }
    }
    assert_eq!(app.sms.sent().len(), 2);
}

async fn a_burst_of_backup_code_guesses_gets_no_more_checks_than_the_limit(backend: Backend) {
    let app = setup(&backend, "", "max_attempts = 3\nduration_seconds = 60").await;
    generate_backup_codes(&app);
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    let backup_url = otp_url.replace("/otp?", "/backup-code?");
    let (_, html) = get(&browser, &backup_url).await;
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (browser, url, html) = (browser.clone(), backup_url.clone(), html.clone());
        burst.spawn(async move {
            let guess = format!("zzzzz-zzzz{i}");
            post_form(&browser, &url, &html, &[("code", guess.as_str())])
                .await
                .status()
                .as_u16()
        });
    }
    let statuses = burst.join_all().await;
    let checked = statuses.iter().filter(|s| **s == 422).count();
    let locked = statuses.iter().filter(|s| **s == 403).count();
    assert!(checked <= 3, "{checked} guesses were checked: {statuses:?}");
    assert_eq!(checked + locked, 10, "{statuses:?}");
}

both_backends!(
    who_signs_in_cannot_change_halfway,
    first_codes_count_toward_the_send_limit,
    a_burst_of_backup_code_guesses_gets_no_more_checks_than_the_limit,
);

async fn codes_and_sealed_events_are_purged_when_dead(backend: Backend) {
    let app = setup_default(&backend).await;
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    get(&browser, &otp_url).await;
    let mut conn = app.db.get().unwrap();
    // The code was sent: the sealed event (which holds it) goes at the next purge.
    let purged = sesame::store::auth::purge_expired(&mut conn).unwrap();
    assert_eq!((purged.sms_otps, purged.events), (0, 1), "{purged:?}");
    sql(&app, "UPDATE sms_otps SET expires_at = expires_at - 4000");
    let purged = sesame::store::auth::purge_expired(&mut conn).unwrap();
    assert_eq!((purged.sms_otps, purged.events), (1, 0), "{purged:?}");
    // An event that was never delivered goes once it expires.
    app.sms.set_failing(true);
    let other = Browser::default();
    let otp_url = to_otp_page(&app, &other).await;
    get(&other, &otp_url).await;
    let purged = sesame::store::auth::purge_expired(&mut conn).unwrap();
    assert_eq!(purged.events, 0, "pending and alive");
    sql(
        &app,
        "UPDATE event_outbox SET expires_at = expires_at - 400",
    );
    let purged = sesame::store::auth::purge_expired(&mut conn).unwrap();
    assert_eq!(purged.events, 1, "{purged:?}");
}

/// The deliveries of the SMS events, as (state, attempts), oldest first.
fn sms_deliveries(app: &TestApp) -> Vec<(String, i64)> {
    use diesel::prelude::*;
    use sesame::store::schema::deliveries::dsl::*;
    deliveries
        .order(created_at.asc())
        .select((state, attempts))
        .load(&mut app.db.get().unwrap())
        .unwrap()
}

async fn a_code_that_could_not_be_sent_is_retried_until_it_arrives(backend: Backend) {
    let app = setup_default(&backend).await;
    app.sms.set_failing(true);
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    let (status, html) = get(&browser, &otp_url).await;
    assert_eq!(status, 422);
    assert!(html.contains("keep trying"), "{html}");
    assert!(app.sms.sent().is_empty());
    // The gateway comes back: the worker delivers the same code (backoff: about 2 s).
    app.sms.set_failing(false);
    // The gateway has the text before the worker records its answer: wait for both.
    wait_for("the retried SMS", || {
        !app.sms.sent().is_empty() && sms_deliveries(&app).iter().all(|(s, _)| s != "pending")
    })
    .await;
    let delivered = sms_deliveries(&app);
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].0, "delivered");
    assert!(delivered[0].1 >= 2, "{delivered:?}");
    let res = submit(&browser, &otp_url, &[("code", &last_code(&app))]).await;
    code_at(&res, MFA_CB);
    assert_eq!(app.sms.sent().len(), 1, "sent once");
}

async fn a_replaced_or_expired_code_is_not_sent_late(backend: Backend) {
    let app = setup_default(&backend).await;
    app.sms.set_failing(true);
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    get(&browser, &otp_url).await;
    // A resend replaces the first code: its pending delivery stops.
    submit(&browser, &otp_url, &[("action", "resend")]).await;
    let states = sms_deliveries(&app);
    assert_eq!(states[0].0, "dead", "{states:?}");
    assert_eq!(states[1].0, "pending");
    // The second code expires before the gateway comes back: it is never sent.
    sql(
        &app,
        "UPDATE deliveries SET give_up_at = next_attempt_at WHERE state = 'pending'",
    );
    app.sms.set_failing(false);
    wait_for("the delivery to die", || {
        sms_deliveries(&app).iter().all(|(s, _)| s == "dead")
    })
    .await;
    assert!(app.sms.sent().is_empty(), "{:?}", app.sms.sent());
}

both_backends!(
    a_code_that_could_not_be_sent_is_retried_until_it_arrives,
    a_replaced_or_expired_code_is_not_sent_late,
);

async fn the_webotp_line_lets_browsers_fill_the_code_in(backend: Backend) {
    let app = setup(
        &backend,
        "webotp = true\nnumeric_only = false\nlength = 8\nmessage_template = \"{code} is your {app} code\"",
        "",
    )
    .await;
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    let (_, html) = get(&browser, &otp_url).await;
    assert!(
        !html.contains("inputmode=\"numeric\""),
        "letters are allowed"
    );
    let body = app.sms.sent()[0].body.clone();
    let (first, webotp) = body.split_once("\n\n").expect("a WebOTP line");
    let code = first.strip_suffix(" is your MFA Web code").expect(&body);
    assert_eq!(code.len(), 8);
    assert!(
        code.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    );
    assert_eq!(webotp, format!("@127.0.0.1 #{code}"));
    // Typed in lower case, it still works.
    let res = submit(&browser, &otp_url, &[("code", &code.to_lowercase())]).await;
    code_at(&res, MFA_CB);
    // Events are listed with the code redacted.
    let out = app.cli(&["events", "list", "--org", "acme"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listing = stdout(&out);
    assert!(listing.contains("SmsOtpNotificationEvent"), "{listing}");
    assert!(
        listing.contains("[redacted]") && !listing.contains(code),
        "{listing}"
    );
}

both_backends!(
    codes_and_sealed_events_are_purged_when_dead,
    the_webotp_line_lets_browsers_fill_the_code_in,
);

async fn an_event_can_be_redelivered_until_it_expires(backend: Backend) {
    let app = setup_default(&backend).await;
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    get(&browser, &otp_url).await;
    let first = app.sms.sent()[0].clone();
    let jti = first.idempotency_key.clone();
    let out = app.cli(&["events", "list", "--org", "acme"]);
    let listing = stdout(&out);
    assert!(
        listing.contains("to sms: delivered after 1 attempt(s)"),
        "{listing}"
    );
    let out = app.cli(&["events", "redeliver", "--org", "acme", "--jti", &jti]);
    assert!(stdout(&out).contains("scheduled again"), "{}", stdout(&out));
    wait_for("the redelivery", || app.sms.sent().len() == 2).await;
    assert_eq!(
        app.sms.sent()[1],
        first,
        "the same message, the same idempotency key"
    );
    // Once the code is used (or expired, or replaced) it is never sent again.
    let res = submit(&browser, &otp_url, &[("code", &last_code(&app))]).await;
    code_at(&res, MFA_CB);
    let out = app.cli(&["events", "redeliver", "--org", "acme", "--jti", &jti]);
    assert!(stdout(&out).contains("no longer live"), "{}", stdout(&out));
}

both_backends!(an_event_can_be_redelivered_until_it_expires);

/// Sixty sign-ins of bob load their OTP pages at once: the send limit is checked and counted
/// in the transaction that stores each code (under the organization's send lock), so no more
/// than `resend_attempts + 1` texts go out (the finding: up to 10 where the limit was 6).
async fn a_burst_of_otp_page_loads_sends_no_more_than_the_limit(backend: Backend) {
    let app = setup(
        &backend,
        "resend_cooldown_seconds = 0",
        "max_attempts = 100",
    )
    .await;
    let mut pages = Vec::new();
    for _ in 0..60 {
        let browser = Browser::default();
        let otp_url = to_otp_page(&app, &browser).await;
        pages.push((browser, otp_url));
    }
    let mut loads = tokio::task::JoinSet::new();
    for (browser, url) in pages {
        // A busy machine may reset a connection of the burst: that load simply has no answer.
        loads.spawn(async move {
            let res = browser.client.get(&url).send().await.ok()?;
            Some((res.status().as_u16(), res.text().await.ok()?))
        });
    }
    let answers: Vec<_> = loads.join_all().await.into_iter().flatten().collect();
    let sent = app.sms.sent().len();
    assert_eq!(
        sent,
        6,
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    let shown = answers.iter().filter(|(status, _)| *status == 200).count();
    let blocked = answers
        .iter()
        .filter(|(status, html)| *status == 422 && html.contains("You can ask again after"))
        .count();
    assert!(shown <= sent, "{shown} pages said a code was sent");
    assert_eq!(
        shown + blocked,
        answers.len(),
        "every answer says sent or blocked: {:?}",
        answers
            .iter()
            .filter(|(status, html)| *status != 200
                && !(*status == 422 && html.contains("You can ask again after")))
            .map(|(status, html)| (status, html.chars().take(300).collect::<String>()))
            .collect::<Vec<_>>()
    );
}

/// A number outside the organization's allow-list gets no code: the page says why.
async fn numbers_outside_the_allow_list_get_no_code(backend: Backend) {
    let app = setup(
        &backend,
        "allowed_countries = [\"US\", \"+1\"]",
        "max_attempts = 50",
    )
    .await;
    let browser = Browser::default();
    let otp_url = to_otp_page(&app, &browser).await;
    let (status, html) = get(&browser, &otp_url).await;
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains("cannot be sent to numbers of this country"),
        "{html}"
    );
    assert!(app.sms.sent().is_empty());
}

both_backends!(
    a_burst_of_otp_page_loads_sends_no_more_than_the_limit,
    numbers_outside_the_allow_list_get_no_code,
);
