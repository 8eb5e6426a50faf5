//! "Forgot your password?" end to end against a real SMTP server: the link under the password
//! form, the same answer whether or not the account exists (and no mail for an account without
//! a verified address or a password), the link working once and only in its browser, the
//! organization's policy on the new password, every session and open sign-in of the user ended
//! and their tokens revoked, the account's lock lifted, the next sign-in still asking for the
//! second factor, the notice and the events; the second factor before the new password (the
//! default, and forced where an application takes codes by email); and the switch that turns
//! resets off.

use std::time::Duration;

use diesel::prelude::*;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, location};
use crate::magic_link::SmtpSink;
use crate::sms_otp::{
    BOB_PASSWORD, MFA_CB, SECRET, auth_url, code_at, get, last_code, post_form, submit,
    token_response,
};

const NEW: &str = "a new passphrase, winter 2026";

/// acme with `mfa-web` (password, then SMS OTP or a backup code) and `apps` (more TOML);
/// `reset`: the lines of `[organizations.password_reset]`. bob has a password, a verified
/// address and number; carol's address is not verified; erin has no password.
fn toml(app: &TestApp, sink: &SmtpSink, reset: &str, apps: &str) -> String {
    let mail = sink.mail_section(app, "Acme accounts <accounts@acme.example>");
    format!(
        r#"
[[organizations]]
slug = "acme"
display_name = "Acme Corp"
[organizations.sms_otp]
resend_cooldown_seconds = 0
[organizations.lock_policy]
max_attempts = 3
smart = false
[organizations.password_reset]
{reset}
{mail}

[[organizations.applications]]
client_id = "mfa-web"
name = "MFA Web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{MFA_CB}"]
sign_in_flow = "username_password_sms_otp"
backup_codes = true
{apps}

[[organizations.users]]
username = "bob"
password = "{BOB_PASSWORD}"
email = "bob@acme.example"
email_verified = true
phone_number = "+44 7400 900123"
phone_number_verified = true

[[organizations.users]]
username = "carol"
password = "carols-long-password"
email = "carol@acme.example"

[[organizations.users]]
username = "erin"
email = "erin@acme.example"
email_verified = true
"#,
    )
}

async fn setup(backend: &Backend, reset: &str, apps: &str) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start();
    let app = TestApp::spawn(backend).await;
    app.import(&toml(&app, &sink, reset, apps));
    (app, sink)
}

/// How many sessions were ever opened at acme.
fn sessions_opened(app: &TestApp) -> i64 {
    use sesame::store::schema::sessions::dsl::*;
    sessions
        .count()
        .get_result(&mut app.db.get().unwrap())
        .unwrap()
}

/// Starts an authorization of mfa-web in `browser`; the sign-in page's URL and HTML.
async fn sign_in_page(app: &TestApp, browser: &Browser) -> (String, String) {
    let res = browser
        .client
        .get(auth_url(app, "mfa-web", &[]))
        .send()
        .await
        .unwrap();
    let login = location(&res);
    let (status, html) = get(browser, &login).await;
    assert_eq!(status, 200, "{html}");
    (login, html)
}

/// The address of the link named `text` on a page.
pub fn href_of(html: &str, text: &str) -> String {
    let end = html.find(&format!("\">{text}</a>")).expect(text);
    let start = html[..end].rfind("href=\"").unwrap() + 6;
    html[start..end]
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

/// Follows "Forgot your password?" from the sign-in page and asks for a link for
/// `identifier`; the reset's first page URL and the answer page.
async fn ask_reset(
    app: &TestApp,
    browser: &Browser,
    sign_in_html: &str,
    identifier: &str,
) -> (String, u16, String) {
    let res = browser
        .client
        .get(href_of(sign_in_html, "Forgot your password?"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let first = location(&res);
    let (status, html) = get(browser, &first).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Reset your password") && html.contains("Email me a reset link"),
        "{html}"
    );
    assert!(!html.contains("type=\"password\""), "{html}");
    let res = post_form(
        browser,
        &format!("{}/magic-link", app.issuer("acme")),
        &html,
        &[("identifier", identifier)],
    )
    .await;
    let status = res.status().as_u16();
    (first, status, res.text().await.unwrap())
}

/// The link in a mail's text part.
pub fn link_in(mail: &Value) -> String {
    let text = mail["text"].as_str().expect("a text part");
    let start = text.find("http").expect("a link in the text");
    text[start..].split_whitespace().next().unwrap().to_string()
}

/// Bob's whole chain in `browser` with `password`: the token endpoint's answer.
async fn sign_in_with(app: &TestApp, browser: &Browser, password: &str) -> Value {
    let res = browser
        .authorize_and_sign_in(&auth_url(app, "mfa-web", &[]), "bob", password)
        .await;
    assert_eq!(res.status(), 303);
    let otp = location(&res);
    assert!(otp.contains("/otp?tx="), "the second factor follows: {otp}");
    let res = submit_code(app, browser, &otp).await;
    token_response(app, "mfa-web", MFA_CB, &code_at(&res, MFA_CB)).await
}

/// Loads the SMS OTP page (which sends a code) and enters the code.
async fn submit_code(app: &TestApp, browser: &Browser, otp_url: &str) -> reqwest::Response {
    get(browser, otp_url).await;
    submit(browser, otp_url, &[("code", &last_code(app))]).await
}

/// Whether `browser` has a session of bob's whole chain: an authorization answers at once.
async fn has_session(app: &TestApp, browser: &Browser) -> bool {
    let res = browser
        .client
        .get(auth_url(app, "mfa-web", &[]))
        .send()
        .await
        .unwrap();
    location(&res).starts_with(MFA_CB)
}

/// The page with what differs between two requests (the identifier typed, the sign-ins' ids)
/// blanked out.
pub fn blank(page: &str, identifier: &str) -> String {
    let mut parts = page
        .replace(identifier, "…")
        .split("tx=")
        .map(str::to_string)
        .collect::<Vec<_>>();
    for part in parts.iter_mut().skip(1) {
        let id_end = part.find('"').unwrap_or(part.len());
        part.replace_range(..id_end, "…");
    }
    parts.join("tx=")
}

async fn a_forgotten_password_is_reset_by_email_and_the_second_factor_still_asked(
    backend: Backend,
) {
    let (app, sink) = setup(&backend, "require_second_factor = false", "").await;
    // Bob is signed in elsewhere, and a sign-in of his with the old password waits for its
    // code in a third browser.
    let elsewhere = Browser::default();
    let elsewhere_tokens = sign_in_with(&app, &elsewhere, BOB_PASSWORD).await;
    let waiting = Browser::default();
    let res = waiting
        .authorize_and_sign_in(&auth_url(&app, "mfa-web", &[]), "bob", BOB_PASSWORD)
        .await;
    let waiting_otp = location(&res);
    // Someone guessing bob's password locked the account.
    for _ in 0..3 {
        let res = Browser::default()
            .authorize_and_sign_in(&auth_url(&app, "mfa-web", &[]), "bob", "a wrong guess!")
            .await;
        assert_eq!(res.status(), 200);
    }
    let res = Browser::default()
        .authorize_and_sign_in(&auth_url(&app, "mfa-web", &[]), "bob", BOB_PASSWORD)
        .await;
    assert!(res.text().await.unwrap().contains("Account locked"));

    // The same answer for an unknown name, an unverified address and an account without a
    // password as for bob; only bob gets a mail.
    let mut answers = Vec::new();
    for who in ["nobody", "carol", "erin@acme.example", "bob"] {
        let browser = Browser::default();
        let (_, html) = sign_in_page(&app, &browser).await;
        let (_, status, page) = ask_reset(&app, &browser, &html, who).await;
        assert_eq!(status, 200, "{who}: {page}");
        assert!(
            page.contains("Check your email") && page.contains("choose a new password"),
            "{page}"
        );
        answers.push(blank(&page, who));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");
    sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 1, "{:#?}", sink.messages());

    // Bob asks in this browser, from the application's sign-in page.
    let here = Browser::default();
    let (sign_in_url, html) = sign_in_page(&app, &here).await;
    let (_, status, _) = ask_reset(&app, &here, &html, "bob@acme.example").await;
    assert_eq!(status, 200);
    let mail = sink.wait_for(2).await[1].clone();
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["bob@acme.example"]));
    assert_eq!(mail["subject"], "Reset your Acme Corp password");
    let link = link_in(&mail);
    assert!(
        link.starts_with(&format!(
            "{}/password-reset/link?token=",
            app.issuer("acme")
        )),
        "{link}"
    );

    let opened = sessions_opened(&app);
    // Another browser cannot use the link (and does not use it up).
    let res = Browser::default().client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 403);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("browser where you asked")
    );
    let res = here.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let new_url = location(&res);
    assert!(new_url.contains("/password-reset/new?tx="), "{new_url}");
    let (status, _) = get(&here, &link).await;
    assert_eq!(status, 400, "the link works once");
    // Opening the link signed nobody in.
    assert!(!has_session(&app, &here).await);
    assert_eq!(sessions_opened(&app), opened);
    // Neither another browser nor a sign-in of another kind reaches the new password's form.
    let tx = new_url.split("tx=").nth(1).unwrap();
    let (status, _) = get(&Browser::default(), &new_url).await;
    assert_eq!(status, 400);
    let waiting_tx = waiting_otp.split("tx=").nth(1).unwrap();
    let (status, _) = get(&waiting, &new_url.replace(tx, waiting_tx)).await;
    assert_eq!(status, 400);

    // The policy applies; a forged form changes nothing.
    let (status, page) = get(&here, &new_url).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Choose a new password") && page.contains("bob"),
        "{page}"
    );
    for (password, confirm, says) in [
        (NEW, "something else entirely", "differ"),
        ("1234567890", "1234567890", "commonly used"),
        (
            "acme-forever-and-ever",
            "acme-forever-and-ever",
            "organization",
        ),
    ] {
        let res = submit(
            &here,
            &new_url,
            &[("password", password), ("confirm", confirm)],
        )
        .await;
        assert_eq!(res.status(), 422, "{password}");
        let page = res.text().await.unwrap();
        assert!(page.contains(says), "{password}: {page}");
    }
    let res = here
        .client
        .post(new_url.split('?').next().unwrap())
        .form(&[
            ("tx", tx),
            ("csrf", "forged"),
            ("password", NEW),
            ("confirm", NEW),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(has_session(&app, &elsewhere).await);

    let (_, page) = get(&here, &new_url).await;
    let res = post_form(
        &here,
        &new_url,
        &page,
        &[("password", NEW), ("confirm", NEW)],
    )
    .await;
    assert_eq!(res.status(), 200);
    let done = res.text().await.unwrap();
    assert!(done.contains("Your new password is saved"), "{done}");
    // Once only.
    let res = post_form(
        &here,
        &new_url,
        &page,
        &[("password", NEW), ("confirm", NEW)],
    )
    .await;
    assert_eq!(res.status(), 400);

    // Everything issued before is gone: the other browser, its tokens, the waiting sign-in.
    assert!(!has_session(&app, &elsewhere).await);
    assert_eq!(
        app.userinfo_status(elsewhere_tokens["access_token"].as_str().unwrap())
            .await,
        401
    );
    let (status, _) = get(&waiting, &waiting_otp).await;
    assert_eq!(status, 400, "the sign-in waiting for its code was ended");
    // The lock is lifted, and the old password is refused.
    let res = Browser::default()
        .authorize_and_sign_in(&auth_url(&app, "mfa-web", &[]), "bob", BOB_PASSWORD)
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Wrong username or password.")
    );

    // Back to the sign-in bob left: the new password, then the second factor still.
    let back = href_of(&done, "Continue signing in");
    assert_eq!(back, sign_in_url);
    let res = submit(&here, &back, &[("username", "bob"), ("password", NEW)]).await;
    assert_eq!(res.status(), 303);
    let otp = location(&res);
    assert!(
        otp.contains("/otp?tx="),
        "the second factor is asked: {otp}"
    );
    let res = submit_code(&app, &here, &otp).await;
    let tokens = token_response(&app, "mfa-web", MFA_CB, &code_at(&res, MFA_CB)).await;
    assert_eq!(
        app.userinfo_status(tokens["access_token"].as_str().unwrap())
            .await,
        200
    );

    // Bob is told, without the password; the change is recorded and published.
    let notice = sink.wait_for(3).await[2].clone();
    assert_eq!(notice["rcpt_tos"], serde_json::json!(["bob@acme.example"]));
    assert_eq!(notice["subject"], "Your Acme Corp password was reset");
    assert!(!notice.to_string().contains(NEW), "{notice}");
    let changes: Vec<String> = {
        use sesame::store::schema::account_changes::dsl::*;
        account_changes
            .select(change)
            .load(&mut app.db.get().unwrap())
            .unwrap()
    };
    assert_eq!(changes, vec!["password_reset".to_string()]);
    let types: Vec<String> = {
        use sesame::store::schema::event_outbox::dsl::*;
        event_outbox
            .select(event_type)
            .load(&mut app.db.get().unwrap())
            .unwrap()
    };
    for published in ["PasswordUpdatedEvent", "UnlockUserEvent"] {
        assert!(types.contains(&published.to_string()), "{types:?}");
    }
}

/// The second factor before the new password: by default, and where an application takes
/// codes by email whatever the setting says (the mailbox would pass the next sign-in).
async fn the_second_factor_comes_before_the_new_password(backend: Backend) {
    for (reset, apps) in [
        ("", ""),
        (
            "require_second_factor = false",
            r#"
[[organizations.applications]]
client_id = "mail-web"
name = "Mail Web"
type = "public"
redirect_uris = ["https://mail.acme.example/cb"]
sign_in_flow = [["password"], ["sms_otp", "email_otp"]]
"#,
        ),
    ] {
        second_factor_first(&backend, reset, apps).await;
    }
}

async fn second_factor_first(backend: &Backend, reset: &str, apps: &str) {
    let (app, sink) = setup(backend, reset, apps).await;
    let opened = sessions_opened(&app);
    let here = Browser::default();
    let (_, html) = sign_in_page(&app, &here).await;
    let (first, _, _) = ask_reset(&app, &here, &html, "bob").await;
    let link = link_in(&sink.wait_for(1).await[0]);
    let res = here.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let otp = location(&res);
    assert!(otp.contains("/otp?tx="), "the second factor first: {otp}");
    // The new password's form waits for it.
    let tx = first.split("tx=").nth(1).unwrap();
    let new_url = format!("{}/password-reset/new?tx={tx}", app.issuer("acme"));
    let (status, _) = get(&here, &new_url).await;
    assert_eq!(status, 400);
    let res = submit_code(&app, &here, &otp).await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), new_url);
    assert_eq!(app.sms.sent().last().unwrap().to, "+447400900123");
    // Passing the second factor signed nobody in either.
    assert!(!has_session(&app, &here).await);
    assert_eq!(sessions_opened(&app), opened);
    let res = submit(&here, &new_url, &[("password", NEW), ("confirm", NEW)]).await;
    assert_eq!(res.status(), 200);
    sign_in_with(&app, &Browser::default(), NEW).await;
}

async fn resets_can_be_turned_off(backend: Backend) {
    let (app, _sink) = setup(&backend, "enabled = false", "").await;
    let browser = Browser::default();
    let (_, html) = sign_in_page(&app, &browser).await;
    assert!(!html.contains("Forgot your password?"), "{html}");
    let (status, page) = get(&browser, &format!("{}/password-reset", app.issuer("acme"))).await;
    assert_eq!(status, 404);
    assert!(page.contains("Password reset is not available"), "{page}");
}

both_backends!(
    a_forgotten_password_is_reset_by_email_and_the_second_factor_still_asked,
    the_second_factor_comes_before_the_new_password,
    resets_can_be_turned_off
);
