//! Email one-time codes (the `email_otp` plug-in), the fallback beside SMS OTP, end to end
//! against a real SMTP server: offered only to users with a verified address, the first visit
//! sends one code, each code works once, wrong codes are counted, new codes void the old ones
//! and are limited; the tokens say how the user signed in.

use diesel::prelude::*;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, location};
use crate::magic_link::SmtpSink;
use crate::sms_otp::{SECRET, code_at, exchange, get, last_code, post_form, sql, submit};

const CB: &str = "https://mail.acme.example/callback";
const PASSWORD: &str = "a-long-password-for-mail";

/// acme with mail through the sink, `mail-web` (password, then SMS OTP with email codes and
/// backup codes beside it) and `[organizations.email_otp]` set to `settings`. bob has a number
/// and a verified address, carol only a verified address, dave a number and an unverified
/// address.
fn toml(app: &TestApp, sink: &SmtpSink, settings: &str) -> String {
    let mail = sink.mail_section(app, "Acme sign-in <signin@acme.example>");
    format!(
        r#"
[[organizations]]
slug = "acme"
display_name = "Acme Corp"
[organizations.sms_otp]
resend_cooldown_seconds = 0
[organizations.email_otp]
{settings}
[organizations.lock_policy]
max_attempts = 20
{mail}

[[organizations.applications]]
client_id = "mail-web"
name = "Mail Web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{CB}"]
sign_in_flow = [["password"], ["sms_otp", "email_otp", "backup_code"]]
backup_codes = true

[[organizations.applications]]
client_id = "mail-native"
type = "public"
app_native = true
sign_in_flow = [["password"], ["sms_otp", "email_otp"]]
redirect_uris = ["{native_cb}"]

[[organizations.users]]
username = "bob"
password = "{PASSWORD}"
email = "bob@acme.example"
email_verified = true
phone_number = "+44 7400 900123"
phone_number_verified = true

[[organizations.users]]
username = "carol"
password = "{PASSWORD}"
email = "carol@acme.example"
email_verified = true

[[organizations.users]]
username = "dave"
password = "{PASSWORD}"
email = "dave@acme.example"
email_verified = false
phone_number = "+44 7400 900124"
phone_number_verified = true
"#,
        native_cb = crate::native::CB,
    )
}

async fn setup(backend: &Backend, settings: &str) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start();
    let app = TestApp::spawn(backend).await;
    app.import(&toml(&app, &sink, settings));
    (app, sink)
}

fn auth_url(app: &TestApp) -> String {
    let mut url = url::Url::parse(&format!("{}/authorize", app.issuer("acme"))).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "mail-web")
        .append_pair("redirect_uri", CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "st");
    url.to_string()
}

/// Passes the password step as `username`; returns the SMS OTP page's URL and HTML.
async fn second_step(app: &TestApp, browser: &Browser, username: &str) -> (String, String) {
    let res = browser
        .authorize_and_sign_in(&auth_url(app), username, PASSWORD)
        .await;
    assert_eq!(res.status(), 303);
    let otp = location(&res);
    assert!(otp.contains("/otp?tx="), "{otp}");
    let (status, html) = get(browser, &otp).await;
    assert_eq!(status, 200, "{html}");
    (otp, html)
}

/// The page's "Email me a code instead" link, if it has one.
fn email_link(html: &str) -> Option<String> {
    let at = html.find(">Email me a code instead</a>")?;
    let href = &html[..at];
    let start = href.rfind("href=\"")? + 6;
    Some(
        href[start..]
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&")
            .replace("&#x2f;", "/"),
    )
}

/// The code in a mail's text part (the line of its own).
fn code_in(mail: &Value) -> String {
    let text = mail["text"].as_str().expect("a text part");
    text.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("a code in {text}"))
        .to_string()
}

/// A stored code: factor, seq, keyed hash, failed attempts, when it was used.
type Row = (String, i64, Vec<u8>, i64, Option<i64>);

fn sent_code_rows(app: &TestApp) -> Vec<Row> {
    use sesame::store::schema::sent_codes::dsl::*;
    sent_codes
        .order(seq)
        .select((factor, seq, code_hash, failed_attempts, used_at))
        .load(&mut app.db.get().unwrap())
        .unwrap()
}

async fn an_email_code_instead_of_the_text_message(backend: Backend) {
    let (app, sink) = setup(&backend, "").await;
    let browser = Browser::default();
    let (_, html) = second_step(&app, &browser, "bob").await;
    // The text message went out as usual; the email code is one of the other ways.
    assert!(!last_code(&app).is_empty());
    assert!(html.contains("Try another way"), "{html}");
    let link = email_link(&html).unwrap_or_else(|| panic!("an email link in {html}"));
    assert!(
        link.starts_with(&format!("{}/sent-code?tx=", app.issuer("acme")))
            && link.ends_with("&factor=email_otp"),
        "{link}"
    );
    assert!(sink.messages().is_empty(), "no mail before it is asked for");

    let (status, page) = get(&browser, &link).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Enter the email code"), "{page}");
    assert!(page.contains("b•••@acme.example"), "{page}");
    assert!(!page.contains("bob@acme.example"), "the address is masked");
    // The page offers the text message and the backup codes back, not itself.
    assert!(page.contains("Use a code sent by text message instead"));
    assert!(page.contains("Use a backup code instead"));
    assert!(email_link(&page).is_none());

    let mails = sink.wait_for(1).await;
    assert_eq!(
        mails[0]["rcpt_tos"],
        serde_json::json!(["bob@acme.example"])
    );
    assert_eq!(mails[0]["subject"], "Your sign-in code for Mail Web");
    let code = code_in(&mails[0]);
    assert!(!mails[0]["subject"].as_str().unwrap().contains(&code));
    // Reloading the page sends nothing more.
    get(&browser, &link).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1);

    // One code, kept only as a keyed hash (an HMAC-SHA256).
    let rows = sent_code_rows(&app);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "email_otp");
    assert_eq!(rows[0].2.len(), 32);

    // The SMS code of this sign-in is no email code.
    let sms = last_code(&app);
    if sms != code {
        let res = submit(&browser, &link, &[("factor", "email_otp"), ("code", &sms)]).await;
        assert_eq!(res.status(), 422);
        let body = res.text().await.unwrap();
        assert!(
            body.contains("That code is not right. 2 attempts left."),
            "{body}"
        );
    } else {
        sql(&app, "UPDATE sent_codes SET failed_attempts = 1");
    }

    // A wrong code is counted; the right one completes the sign-in.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (_, page) = get(&browser, &link).await;
    let res = post_form(
        &browser,
        &link,
        &page,
        &[("factor", "email_otp"), ("code", wrong)],
    )
    .await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("That code is not right. 1 attempt left."),
        "{body}"
    );
    let res = post_form(
        &browser,
        &link,
        &body,
        &[("factor", "email_otp"), ("code", &code)],
    )
    .await;
    let auth_code = code_at(&res, CB);
    // The same code again (a double click) finds the sign-in finished.
    let again = post_form(
        &browser,
        &link,
        &body,
        &[("factor", "email_otp"), ("code", &code)],
    )
    .await;
    assert_eq!(again.status(), 400);
    let claims = exchange(&app, "mail-web", CB, &auth_code).await;
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(amr.contains(&"pwd") && amr.contains(&"otp") && amr.contains(&"email"));
    assert!(!amr.contains(&"sms"), "{amr:?}");
    assert!(amr.contains(&"mfa"), "{amr:?}");
    let m = crate::metrics::scrape(&app).await;
    let sent = [("purpose", "email_otp"), ("outcome", "sent")];
    assert_eq!(m.value("sesame_mail_sends_total", &sent), 1.0);
    let rows = sent_code_rows(&app);
    assert!(rows[0].4.is_some(), "the code is spent");
    assert_eq!(
        rows[0].3, 2,
        "the wrong tries stay counted, the right one is not"
    );
}

async fn email_codes_follow_the_one_time_code_rules(backend: Backend) {
    let (app, sink) = setup(&backend, "resend_cooldown_seconds = 0\nresend_attempts = 1").await;
    let browser = Browser::default();
    // carol has no number: the SMS step says so and offers the email code.
    let (_, html) = second_step(&app, &browser, "carol").await;
    assert!(html.contains("no verified mobile number"), "{html}");
    assert!(app.sms.sent().is_empty());
    let link = email_link(&html).unwrap_or_else(|| panic!("an email link in {html}"));
    let (_, page) = get(&browser, &link).await;
    let first = code_in(&sink.wait_for(1).await[0]);

    // A new code voids the first; the sign-in may ask for one more only.
    let res = post_form(
        &browser,
        &link,
        &page,
        &[("factor", "email_otp"), ("action", "resend")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(page.contains("We sent a new code"), "{page}");
    assert!(page.contains("No more new codes can be sent"), "{page}");
    let second = code_in(&sink.wait_for(2).await[1]);
    let res = post_form(
        &browser,
        &link,
        &page,
        &[("factor", "email_otp"), ("action", "resend")],
    )
    .await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("No more new codes can be sent in this sign-in"),
        "{body}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 2, "no third code");
    // Only the newest code counts: the first is now a wrong code (and counted as one).
    if first != second {
        let res = submit(
            &browser,
            &link,
            &[("factor", "email_otp"), ("code", &first)],
        )
        .await;
        assert_eq!(res.status(), 422);
        let body = res.text().await.unwrap();
        assert!(
            body.contains("That code is not right. 2 attempts left."),
            "{body}"
        );
    }

    // An expired code is refused, and says so.
    sql(&app, "UPDATE sent_codes SET expires_at = 1");
    let res = submit(
        &browser,
        &link,
        &[("factor", "email_otp"), ("code", &second)],
    )
    .await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("This code has expired"), "{body}");

    // Three wrong tries void a code (a fresh sign-in, a fresh code).
    let browser = Browser::default();
    let (_, html) = second_step(&app, &browser, "carol").await;
    let link = email_link(&html).unwrap();
    get(&browser, &link).await;
    let code = code_in(&sink.wait_for(3).await[2]);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in ["2 attempts left", "1 attempt left", "it was the last try"] {
        let res = submit(&browser, &link, &[("factor", "email_otp"), ("code", wrong)]).await;
        let body = res.text().await.unwrap();
        assert!(body.contains(left), "{left}: {body}");
    }
    let res = submit(&browser, &link, &[("factor", "email_otp"), ("code", &code)]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("no longer works"));
}

async fn only_a_verified_address_gets_codes(backend: Backend) {
    let (app, sink) = setup(&backend, "").await;
    let browser = Browser::default();
    let (otp, html) = second_step(&app, &browser, "dave").await;
    assert!(
        email_link(&html).is_none(),
        "dave's address is not verified"
    );
    // Asked for directly, the page says why, and nothing is mailed.
    let tx = otp.split("tx=").nth(1).unwrap();
    let url = format!("{}/sent-code?tx={tx}&factor=email_otp", app.issuer("acme"));
    let (status, page) = get(&browser, &url).await;
    assert_eq!(status, 200);
    assert!(page.contains("no verified email address"), "{page}");
    assert!(!page.contains("name=\"code\""), "no code to enter: {page}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(sink.messages().is_empty());
    assert!(sent_code_rows(&app).is_empty());
    // A factor the step does not offer is refused like a stale page.
    let url = format!(
        "{}/sent-code?tx={tx}&factor=carrier_pigeon",
        app.issuer("acme")
    );
    let (status, page) = get(&browser, &url).await;
    assert_eq!(status, 400, "{page}");

    // The email code is a fallback: a flow cannot offer it without SMS OTP.
    let bad = toml(&app, &sink, "").replace(
        r#"[["password"], ["sms_otp", "email_otp"]]"#,
        r#"[["password"], ["email_otp"]]"#,
    );
    let path = app.write_file("bad.toml", &bad);
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("email_otp is only offered beside sms_otp"),
        "{err}"
    );
    // Settings out of range are refused with the field's name.
    let bad = toml(&app, &sink, "length = 3");
    let path = app.write_file("bad.toml", &bad);
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("email_otp") && err.contains("length"), "{err}");
}

async fn sends_are_limited_by_the_cooldown_and_per_address(backend: Backend) {
    let (app, sink) = setup(
        &backend,
        "resend_cooldown_seconds = 60\nmax_sends_per_address = 2",
    )
    .await;
    let browser = Browser::default();
    let (_, html) = second_step(&app, &browser, "bob").await;
    let link = email_link(&html).unwrap();
    let (_, page) = get(&browser, &link).await;
    sink.wait_for(1).await;
    assert!(page.contains("You can ask for a new code in"), "{page}");
    let resend = [("factor", "email_otp"), ("action", "resend")];
    let res = post_form(&browser, &link, &page, &resend).await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("Please wait"), "{body}");

    // A second sign-in gets the address's second code; a third gets none.
    let browser = Browser::default();
    let (_, html) = second_step(&app, &browser, "bob").await;
    get(&browser, &email_link(&html).unwrap()).await;
    sink.wait_for(2).await;
    let browser = Browser::default();
    let (_, html) = second_step(&app, &browser, "bob").await;
    let (status, page) = get(&browser, &email_link(&html).unwrap()).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("Too many codes were sent to this address lately"),
        "{page}"
    );
    assert!(page.contains("none could be sent yet"), "{page}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 2);
}

async fn an_email_code_is_not_enough_for_account_changes(backend: Backend) {
    let (app, sink) = setup(&backend, "").await;
    let browser = Browser::default();
    let (_, html) = second_step(&app, &browser, "bob").await;
    let sms_sent = app.sms.sent().len();
    let link = email_link(&html).unwrap();
    get(&browser, &link).await;
    let code = code_in(&sink.wait_for(1).await[0]);
    let res = submit(&browser, &link, &[("factor", "email_otp"), ("code", &code)]).await;
    code_at(&res, CB);
    // Signed in with the password and the mailbox: the number stays as it is until the whole
    // chain (with the text message) is passed again.
    let res = crate::account::change(
        &app,
        &browser,
        "/account/phone",
        &[("number", "+14155550199")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(
        location(&res).ends_with("/account/verify"),
        "{}",
        location(&res)
    );
    assert_eq!(app.sms.sent().len(), sms_sent, "no code to the new number");
    let res = crate::account::change(
        &app,
        &browser,
        "/account/backup-codes",
        &[("action", "generate")],
    )
    .await;
    assert!(location(&res).ends_with("/account/verify"));
}

async fn a_mail_the_mailer_refuses_is_no_code(backend: Backend) {
    let (app, sink) = setup(&backend, "resend_cooldown_seconds = 0").await;
    let browser = Browser::default();
    let (_, html) = second_step(&app, &browser, "bob").await;
    let link = email_link(&html).unwrap();
    let (_, page) = get(&browser, &link).await;
    let first = code_in(&sink.wait_for(1).await[0]);
    drop(sink); // The SMTP server is gone: the mailer cannot connect.

    // A new code that cannot be mailed is dropped: the one in the mailbox still works.
    let resend = [("factor", "email_otp"), ("action", "resend")];
    let res = post_form(&browser, &link, &page, &resend).await;
    assert_eq!(res.status(), 422);
    let body = res.text().await.unwrap();
    assert!(body.contains("We could not send the email"), "{body}");
    assert_eq!(sent_code_rows(&app).len(), 1, "the unsent code is dropped");
    let m = crate::metrics::scrape(&app).await;
    let failed = [("purpose", "email_otp"), ("outcome", "error")];
    assert_eq!(m.value("sesame_mail_sends_total", &failed), 1.0);
    let res = post_form(
        &browser,
        &link,
        &body,
        &[("factor", "email_otp"), ("code", &first)],
    )
    .await;
    code_at(&res, CB);

    // A first code that cannot be mailed: the page says none was sent, and no cooldown holds.
    let browser = Browser::default();
    let (_, html) = second_step(&app, &browser, "bob").await;
    let (status, page) = get(&browser, &email_link(&html).unwrap()).await;
    assert_eq!(status, 422);
    assert!(page.contains("We could not send the email"), "{page}");
    assert!(page.contains("none could be sent yet"), "{page}");
    assert!(!page.contains("You can ask for a new code in"), "{page}");
    assert_eq!(
        sent_code_rows(&app).len(),
        1,
        "only the first sign-in's code"
    );
    let m = crate::metrics::scrape(&app).await;
    assert_eq!(m.value("sesame_mail_sends_total", &failed), 2.0);
}

async fn the_json_sign_in_api_takes_email_codes(backend: Backend) {
    use crate::native::{start_with, step};
    let (app, sink) = setup(&backend, "").await;
    let (status, body) = start_with(&app, "mail-native", &[]).await;
    assert_eq!(status, 200, "{body}");
    let params = serde_json::json!({ "username": "bob", "password": PASSWORD });
    let (_, body) = step(&app, &body["flowId"], "password", params).await;
    let ids: Vec<&str> = body["nextStep"]["authenticators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["authenticatorId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["sms_otp", "email_otp"], "{body}");
    assert_eq!(
        body["nextStep"]["sent_offers"][0]["factor"], "email_otp",
        "{body}"
    );
    let (_, body) = step(&app, &body["flowId"], "email_otp", serde_json::json!({})).await;
    assert_eq!(body["nextStep"]["kind"], "sent", "{body}");
    assert_eq!(
        body["nextStep"]["sent"]["masked_destination"], "b•••@acme.example",
        "{body}"
    );
    let code = code_in(&sink.wait_for(1).await[0]);
    let (status, body) = step(
        &app,
        &body["flowId"],
        "email_otp",
        serde_json::json!({ "code": code }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["flowStatus"], "SUCCESS_COMPLETED", "{body}");
    let amr = body["amr"].as_array().unwrap();
    assert!(
        amr.contains(&"email".into()) && amr.contains(&"otp".into()),
        "{body}"
    );
}

both_backends!(
    an_email_code_instead_of_the_text_message,
    email_codes_follow_the_one_time_code_rules,
    only_a_verified_address_gets_codes,
    sends_are_limited_by_the_cooldown_and_per_address,
    an_email_code_is_not_enough_for_account_changes,
    a_mail_the_mailer_refuses_is_no_code,
    the_json_sign_in_api_takes_email_codes,
);
