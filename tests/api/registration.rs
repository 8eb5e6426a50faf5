//! Self-registration end to end against a real SMTP server: "Create an account" only where the
//! organization opened it to the application; the form's checks (username, address, the
//! password policy, a username taken); no account until the link is opened, and then only in the
//! browser that registered, once; the account created with its address verified, recorded and
//! published; its first sign-in through the application's whole flow, adding a mobile number
//! right away; the same answer whether or not the address has an account (its owner told by
//! mail instead); the limit per client IP; and registration off by default.

use std::time::Duration;

use diesel::prelude::*;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, location, payload};
use crate::magic_link::SmtpSink;
use crate::password_reset::{blank, href_of, link_in};
use crate::sms_otp::{
    MFA_CB, SECRET, auth_url, code_at, get, last_code, post_form, submit, token_response,
};

const PASSWORD: &str = "a fresh passphrase, spring 2027";

/// acme with `mfa-web` (password, then SMS OTP; numbers added during sign-in) and `pwd-web`
/// (password only); `registration`: the lines of `[organizations.registration]`. bob has a
/// verified address.
fn toml(app: &TestApp, sink: &SmtpSink, registration: &str) -> String {
    let mail = sink.mail_section(app, "Acme accounts <accounts@acme.example>");
    format!(
        r#"
[[organizations]]
slug = "acme"
display_name = "Acme Corp"
[organizations.sms_otp]
resend_cooldown_seconds = 0
[organizations.enrollment]
sms_otp = "during_sign_in"
[organizations.registration]
{registration}
{mail}

[[organizations.applications]]
client_id = "mfa-web"
name = "MFA Web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{MFA_CB}"]
sign_in_flow = "username_password_sms_otp"

[[organizations.applications]]
client_id = "pwd-web"
name = "Password Web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{PWD_CB}"]

[[organizations.users]]
username = "bob"
password = "bobs-long-password"
email = "bob@acme.example"
email_verified = true
"#,
        PWD_CB = crate::sms_otp::PWD_CB,
    )
}

async fn setup(backend: &Backend, registration: &str) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start();
    let app = TestApp::spawn(backend).await;
    app.import(&toml(&app, &sink, registration));
    (app, sink)
}

const OPEN: &str = "enabled = true\napplications = [\"mfa-web\"]";

/// Starts an authorization of `client_id` in `browser`; the sign-in page's URL and HTML.
async fn sign_in_page(app: &TestApp, browser: &Browser, client_id: &str) -> (String, String) {
    let res = browser
        .client
        .get(auth_url(app, client_id, &[]))
        .send()
        .await
        .unwrap();
    let login = location(&res);
    let (status, html) = get(browser, &login).await;
    assert_eq!(status, 200, "{html}");
    (login, html)
}

/// Follows "Create an account" from mfa-web's sign-in page: the form's URL and HTML.
async fn registration_form(app: &TestApp, browser: &Browser) -> (String, String) {
    let (_, html) = sign_in_page(app, browser, "mfa-web").await;
    let url = href_of(&html, "Create an account");
    assert!(
        url.starts_with(&format!("{}/register?tx=", app.issuer("acme"))),
        "{url}"
    );
    let (status, html) = get(browser, &url).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Create an account"), "{html}");
    (url, html)
}

/// Posts the registration form loaded as `html`: the status and the answer page.
async fn register(
    browser: &Browser,
    url: &str,
    html: &str,
    username: &str,
    email: &str,
    password: &str,
    confirm: &str,
) -> (u16, String) {
    let res = post_form(
        browser,
        url,
        html,
        &[
            ("username", username),
            ("email", email),
            ("password", password),
            ("confirm", confirm),
        ],
    )
    .await;
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Loads the registration form in `browser` and registers `username` with `email` and
/// [`PASSWORD`]: the status and the answer page.
async fn register_new(
    app: &TestApp,
    browser: &Browser,
    username: &str,
    email: &str,
) -> (u16, String) {
    let (url, html) = registration_form(app, browser).await;
    register(browser, &url, &html, username, email, PASSWORD, PASSWORD).await
}

fn user_named(app: &TestApp, who: &str) -> Option<(String, Option<String>, bool)> {
    use sesame::store::schema::users::dsl::*;
    users
        .filter(username.eq(who))
        .select((id, email, email_verified))
        .first(&mut app.db.get().unwrap())
        .optional()
        .unwrap()
}

fn registrations_stored(app: &TestApp) -> i64 {
    use sesame::store::schema::registrations::dsl::*;
    registrations
        .count()
        .get_result(&mut app.db.get().unwrap())
        .unwrap()
}

async fn a_new_user_registers_verifies_the_address_and_signs_in_adding_a_number(backend: Backend) {
    let (app, sink) = setup(&backend, OPEN).await;
    // Offered on mfa-web's sign-in page only.
    let (_, other) = sign_in_page(&app, &Browser::default(), "pwd-web").await;
    assert!(!other.contains("Create an account"), "{other}");

    let here = Browser::default();
    let (url, html) = registration_form(&app, &here).await;
    // The form's checks, each answered on the form with what was typed kept.
    let cases = [
        (
            "dave@acme",
            "dave@example.org",
            PASSWORD,
            PASSWORD,
            422,
            "Choose a username",
        ),
        (
            "dave",
            "not an address",
            PASSWORD,
            PASSWORD,
            422,
            "valid email address",
        ),
        (
            "dave",
            "dävid@example.org",
            PASSWORD,
            PASSWORD,
            422,
            "plain ASCII",
        ),
        (
            "dave",
            "dave@example.org",
            PASSWORD,
            "another one",
            422,
            "differ",
        ),
        (
            "dave",
            "dave@example.org",
            "dave's password",
            "dave's password",
            422,
            "cannot contain your username",
        ),
        (
            "dave",
            "dave@example.org",
            "password1",
            "password1",
            422,
            "common",
        ),
        (
            "BOB",
            "dave@example.org",
            PASSWORD,
            PASSWORD,
            409,
            "The username bob is taken",
        ),
    ];
    let mut html = html;
    for (username, email, password, confirm, status, says) in cases {
        let (got, page) = register(&here, &url, &html, username, email, password, confirm).await;
        assert_eq!(got, status, "{username} {email}: {page}");
        assert!(page.contains(says), "{says}: {page}");
        for kept in [username, email] {
            assert!(
                page.contains(&format!("value=\"{kept}\"")),
                "{kept}: {page}"
            );
        }
        assert!(
            !page.contains(password),
            "the password is never shown again"
        );
        html = page;
    }
    assert!(sink.messages().is_empty());
    assert_eq!(registrations_stored(&app), 0);

    let (status, page) = register(
        &here,
        &url,
        &html,
        "Dave",
        "dave@example.org",
        PASSWORD,
        PASSWORD,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Check your email") && page.contains("dave@example.org"),
        "{page}"
    );
    let mail = sink.wait_for(1).await[0].clone();
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["dave@example.org"]));
    assert_eq!(mail["subject"], "Finish creating your Acme Corp account");
    assert!(!mail.to_string().contains(PASSWORD), "{mail}");
    let link = link_in(&mail);
    assert!(
        link.starts_with(&format!("{}/register/link?token=", app.issuer("acme"))),
        "{link}"
    );
    // No account before the link: dave cannot sign in.
    assert_eq!(user_named(&app, "dave"), None);
    let res = Browser::default()
        .authorize_and_sign_in(&auth_url(&app, "mfa-web", &[]), "dave", PASSWORD)
        .await;
    assert_eq!(res.status(), 200, "the sign-in page again, with its error");

    // Another browser (or a mail scanner) is told so and does not use the link up.
    let (status, page) = get(&Browser::default(), &link).await;
    assert_eq!(status, 403, "{page}");
    assert_eq!(user_named(&app, "dave"), None);
    // The browser that registered creates the account, its address verified.
    let (status, done) = get(&here, &link).await;
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("Your account is ready"), "{done}");
    let (dave_id, email, verified) = user_named(&app, "dave").expect("dave's account");
    assert_eq!(
        (email.as_deref(), verified),
        (Some("dave@example.org"), true)
    );
    let (status, page) = get(&here, &link).await;
    assert_eq!(status, 400, "once: {page}");
    assert!(page.contains("already used"), "{page}");
    let changes: Vec<(String, String)> = {
        use sesame::store::schema::account_changes::dsl::*;
        account_changes
            .select((user_id, change))
            .load(&mut app.db.get().unwrap())
            .unwrap()
    };
    assert_eq!(changes, vec![(dave_id.clone(), "registered".to_string())]);
    let types: Vec<String> = {
        use sesame::store::schema::event_outbox::dsl::*;
        event_outbox
            .select(event_type)
            .load(&mut app.db.get().unwrap())
            .unwrap()
    };
    assert!(
        types.contains(&"UserRegisteredEvent".to_string()),
        "{types:?}"
    );
    assert_eq!(
        registrations_stored(&app),
        1,
        "kept until it expires, to say the link was used"
    );
    let cleared: String = {
        use sesame::store::schema::registrations::dsl::*;
        registrations
            .select(password_hash)
            .first(&mut app.db.get().unwrap())
            .unwrap()
    };
    assert_eq!(
        cleared, "",
        "the pending hash is forgotten once the account holds it"
    );

    // "Continue signing in" goes back to the sign-in dave left: the password, then a mobile
    // number added right away, then the application gets its code.
    let login = href_of(&done, "Continue signing in");
    let res = here.sign_in(&login, "dave", PASSWORD).await;
    assert_eq!(res.status(), 303);
    let otp_url = location(&res);
    assert!(otp_url.contains("/otp?tx="), "{otp_url}");
    let (_, html) = get(&here, &otp_url).await;
    assert!(html.contains("Add your mobile number"), "{html}");
    let res = submit(
        &here,
        &otp_url,
        &[("action", "number"), ("number", "+1 415 555 0123")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let res = submit(
        &here,
        &otp_url,
        &[("action", "verify"), ("code", &last_code(&app))],
    )
    .await;
    let tokens = token_response(&app, "mfa-web", MFA_CB, &code_at(&res, MFA_CB)).await;
    assert!(tokens["id_token"].is_string(), "{tokens}");
    let claims = payload(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], Value::String(dave_id));
}

async fn the_same_answer_whether_or_not_the_address_has_an_account_and_a_limit_per_ip(
    backend: Backend,
) {
    let (app, sink) = setup(&backend, &format!("{OPEN}\nmax_per_ip = 3")).await;
    let mut answers = Vec::new();
    for (username, email) in [("bobby", "bob@acme.example"), ("erin", "erin@acme.example")] {
        let browser = Browser::default();
        let (status, page) = register_new(&app, &browser, username, email).await;
        assert_eq!(status, 200, "{page}");
        answers.push(blank(&blank(&page, email), username));
    }
    assert_eq!(answers[0], answers[1]);
    let mails = sink.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 2, "{:#?}", sink.messages());
    let to = |who: &str| {
        mails
            .iter()
            .find(|m| m["rcpt_tos"] == serde_json::json!([who]))
            .unwrap_or_else(|| panic!("a mail to {who}"))
            .clone()
    };
    // bob is told his address already has an account; nothing is stored for it.
    let notice = to("bob@acme.example");
    assert_eq!(
        notice["subject"],
        "You already have an account at Acme Corp"
    );
    assert!(
        notice["text"]
            .as_str()
            .unwrap()
            .contains("Forgot your password?")
    );
    assert!(!notice.to_string().contains("/register/link"), "{notice}");
    assert_eq!(
        to("erin@acme.example")["subject"],
        "Finish creating your Acme Corp account"
    );
    assert_eq!(registrations_stored(&app), 1);

    // The third registration from this address is accepted, the fourth refused.
    let browser = Browser::default();
    let (status, page) = register_new(&app, &browser, "frank", "frank@acme.example").await;
    assert_eq!(status, 200, "{page}");
    let (status, page) = register_new(&app, &browser, "grace", "grace@acme.example").await;
    assert_eq!(status, 429, "{page}");
    assert!(page.contains("Too many registrations"), "{page}");
}

/// Mails to one address share the sign-in links' limit: past it the answer is the same and
/// nothing is sent (the form cannot flood a mailbox).
async fn mails_to_one_address_are_limited(backend: Backend) {
    let limited = format!("{OPEN}\n[organizations.magic_link]\nmax_sends_per_address = 2");
    let (app, sink) = setup(&backend, &limited).await;
    for n in 0..3 {
        let browser = Browser::default();
        let name = format!("erin{n}");
        let (status, page) = register_new(&app, &browser, &name, "erin@example.org").await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("Check your email"), "{page}");
    }
    sink.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sink.messages().len(), 2, "{:#?}", sink.messages());
}

async fn registration_is_off_unless_the_organization_opens_it_to_the_application(backend: Backend) {
    // A link: unknown where registration is on, not offered where it is off.
    for (settings, link) in [
        ("", 404),
        ("enabled = true", 400),
        ("applications = [\"mfa-web\"]", 404),
    ] {
        let (app, _sink) = setup(&backend, settings).await;
        let browser = Browser::default();
        let (login, html) = sign_in_page(&app, &browser, "mfa-web").await;
        assert!(!html.contains("Create an account"), "{settings}: {html}");
        let tx = login.split("tx=").nth(1).unwrap();
        let (status, page) = get(
            &browser,
            &format!("{}/register?tx={tx}", app.issuer("acme")),
        )
        .await;
        assert_eq!(status, 404, "{settings}: {page}");
        assert!(page.contains("Registration is not available"), "{page}");
        let (status, _) = get(
            &browser,
            &format!("{}/register/link?token=abc", app.issuer("acme")),
        )
        .await;
        assert_eq!(status, link, "{settings}");
    }
    // Import refuses to open registration to an application a new account could never sign
    // in to (SMS OTP without adding a number during sign-in).
    let (app, sink) = setup(&backend, "").await;
    let stuck = toml(&app, &sink, OPEN)
        .replace("sms_otp = \"during_sign_in\"", "sms_otp = \"account_area\"");
    let path = app.write_file("stuck.toml", &stuck);
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("registration.applications[0]") && err.contains("during_sign_in"),
        "{err}"
    );
}

/// Expires every pending registration now.
fn expire_registrations(app: &TestApp) {
    use sesame::store::schema::registrations::dsl::*;
    diesel::update(registrations)
        .set(expires_at.eq(0))
        .execute(&mut app.db.get().unwrap())
        .unwrap();
}

async fn a_link_creates_the_account_only_while_it_can_and_the_file_cannot_take_it_over(
    backend: Backend,
) {
    let (app, sink) = setup(&backend, OPEN).await;
    let here = Browser::default();
    let (url, html) = registration_form(&app, &here).await;
    let (status, _) = register(
        &here,
        &url,
        &html,
        "dave",
        "dave@example.org",
        PASSWORD,
        PASSWORD,
    )
    .await;
    assert_eq!(status, 200);
    // The same form again (a reload) is refused and mails nothing more.
    let (status, page) = register(
        &here,
        &url,
        &html,
        "dave",
        "dave@example.org",
        PASSWORD,
        PASSWORD,
    )
    .await;
    assert_eq!(status, 403, "{page}");
    let first = link_in(&sink.wait_for(1).await[0]);
    // A newer registration of the address, typed in another case, voids the older link.
    let (status, _) = register_new(&app, &here, "dave", "Dave@Example.ORG").await;
    assert_eq!(status, 200);
    let mails = sink.wait_for(2).await;
    assert_eq!(
        mails[1]["rcpt_tos"],
        serde_json::json!(["dave@example.org"])
    );
    let second = link_in(&mails[1]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 2, "{:#?}", sink.messages());
    let (status, page) = get(&here, &first).await;
    assert_eq!(
        (status, page.contains("already used")),
        (400, true),
        "{page}"
    );
    // An administrator creates dave meanwhile: the link says so (and is used up).
    app.import(&format!(
        "{}\n[[organizations.users]]\nusername = \"dave\"\n",
        toml(&app, &sink, OPEN)
    ));
    let (status, page) = get(&here, &second).await;
    assert_eq!(status, 409, "{page}");
    assert!(page.contains("taken meanwhile"), "{page}");
    let (status, _) = get(&here, &second).await;
    assert_eq!(status, 400);

    // An expired link creates nothing.
    let (status, _) = register_new(&app, &here, "erin", "erin@example.org").await;
    assert_eq!(status, 200);
    let link = link_in(&sink.wait_for(3).await[2]);
    expire_registrations(&app);
    let (status, page) = get(&here, &link).await;
    assert_eq!((status, page.contains("expired")), (400, true), "{page}");
    assert_eq!(user_named(&app, "erin"), None);

    // erin registers again and opens the link: her account is hers, not the file's.
    let (status, _) = register_new(&app, &here, "erin", "erin@example.org").await;
    assert_eq!(status, 200);
    let link = link_in(&sink.wait_for(4).await[3]);
    let (status, page) = get(&here, &link).await;
    assert_eq!(status, 200, "{page}");
    let erin = user_named(&app, "erin").expect("erin's account").0;
    let claims_erin = format!(
        "{}\n[[organizations.users]]\nusername = \"erin\"\npassword = \"the operators password\"\n",
        toml(&app, &sink, OPEN)
    );
    let path = app.write_file("erin.toml", &claims_erin);
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("user acme/erin") && err.contains("registered themselves"),
        "{err}"
    );
    // A prune of a file that lists the users keeps the ones who registered themselves.
    let path = app.write_file("pruned.toml", &toml(&app, &sink, OPEN));
    let out = app.cli(&["import", "--prune", "--yes", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(user_named(&app, "erin").map(|u| u.0), Some(erin));
    assert_eq!(user_named(&app, "dave"), None, "the file's dave is pruned");
}

both_backends!(
    a_new_user_registers_verifies_the_address_and_signs_in_adding_a_number,
    a_link_creates_the_account_only_while_it_can_and_the_file_cannot_take_it_over,
    the_same_answer_whether_or_not_the_address_has_an_account_and_a_limit_per_ip,
    mails_to_one_address_are_limited,
    registration_is_off_unless_the_organization_opens_it_to_the_application
);
