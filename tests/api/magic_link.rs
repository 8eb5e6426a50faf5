//! The `magic_link` first step end to end against a real SMTP server (`smtp_server.rs`, started
//! in process by each test, with AUTH; an independent MIME parser reads what arrives): the mail
//! arrives, the test follows its link, passes SMS OTP and gets tokens; then every refusal: a link
//! opened in another browser, reused, expired, replaced; the same answer for unknown addresses;
//! the send limits.

use std::time::Duration;

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, form_field, location, payload};
use crate::sms_otp::{code_at, get, last_code, post_form, sql, submit};
use crate::smtp_server::{Security, SmtpServer};

const CB: &str = "https://ml.acme.example/callback";
const SECRET: &str = "a-client-secret-for-the-acme-mfa-tests-0123";
pub const SMTP_USER: &str = "sesame";
pub const SMTP_PASSWORD: &str = "smtp-password-for-tests";

/// The test SMTP server on a free loopback port, requiring AUTH as `SMTP_USER`; stops when
/// dropped.
pub struct SmtpSink {
    server: SmtpServer,
    pub port: u16,
}

impl SmtpSink {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// `tls`: nothing (plain), or the mode ("starttls" or "tls"), certificate and key paths.
    fn start_with(tls: &[&str]) -> Self {
        let security = match tls {
            [] => Security::None,
            [mode, cert, key] => {
                let config = crate::smtp_server::tls_config(
                    &std::fs::read(cert).unwrap(),
                    &std::fs::read(key).unwrap(),
                );
                match *mode {
                    "starttls" => Security::Starttls(config),
                    "tls" => Security::Tls(config),
                    other => panic!("unknown TLS mode {other}"),
                }
            }
            other => panic!("expected nothing or a mode, certificate and key: {other:?}"),
        };
        let server = SmtpServer::start(SMTP_USER, SMTP_PASSWORD, security);
        Self {
            port: server.port(),
            server,
        }
    }

    /// The organization's `[organizations.mail]` section sending through this server (AUTH with
    /// a password file in `app`'s folder), from `from`.
    pub fn mail_section(&self, app: &TestApp, from: &str) -> String {
        let password_file = app.write_file("smtp-password", SMTP_PASSWORD);
        format!(
            "[organizations.mail]\ntransport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\n\
             tls = \"none\"\nusername = \"{SMTP_USER}\"\npassword = {{ file = \"{}\" }}\n\
             from = \"{from}\"\n",
            self.port,
            password_file.display()
        )
    }

    pub fn messages(&self) -> Vec<Value> {
        self.server.messages()
    }

    /// Waits (up to 10 s) until `n` messages arrived; returns them in arrival order.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} messages, got {}", self.messages().len());
    }
}

fn toml(app: &TestApp, sink: &SmtpSink, magic: &str) -> String {
    let mail = sink.mail_section(app, "Acme sign-in <signin@acme.example>");
    format!(
        r#"
[[organizations]]
slug = "acme"
display_name = "Acme Corp"
[organizations.sms_otp]
resend_cooldown_seconds = 0
[organizations.magic_link]
{magic}
{mail}

[[organizations.applications]]
client_id = "ml-web"
name = "Link Web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{CB}"]
sign_in_flow = [["magic_link"], ["sms_otp"]]

[[organizations.users]]
username = "dana"
email = "dana@acme.example"
email_verified = true
phone_number = "+44 7400 900321"
phone_number_verified = true

[[organizations.users]]
username = "eve"
email = "eve@acme.example"
email_verified = false
phone_number = "+44 7400 900322"
phone_number_verified = true
"#,
    )
}

async fn setup(backend: &Backend, magic: &str) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start();
    let app = TestApp::spawn(backend).await;
    app.import(&toml(&app, &sink, magic));
    (app, sink)
}

/// Starts an authorization of ml-web; returns the sign-in page's URL and HTML.
async fn login_page(app: &TestApp, browser: &Browser) -> (String, String) {
    let mut url = url::Url::parse(&format!("{}/authorize", app.issuer("acme"))).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "ml-web")
        .append_pair("redirect_uri", CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "st");
    let res = browser.client.get(url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let login = location(&res);
    assert!(login.contains("/login?tx="), "{login}");
    let (status, html) = get(browser, &login).await;
    assert_eq!(status, 200);
    (login, html)
}

/// Asks for a link for `identifier` from the sign-in page; returns the answer page.
async fn ask_link(app: &TestApp, browser: &Browser, identifier: &str) -> (u16, String) {
    let (_, html) = login_page(app, browser).await;
    ask_link_on(app, browser, &html, identifier).await
}

async fn ask_link_on(
    app: &TestApp,
    browser: &Browser,
    html: &str,
    identifier: &str,
) -> (u16, String) {
    let res = post_form(
        browser,
        &format!("{}/magic-link", app.issuer("acme")),
        html,
        &[("identifier", identifier)],
    )
    .await;
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The sign-in link in a mail's text part.
fn link_in(mail: &Value) -> String {
    let text = mail["text"].as_str().expect("a text part");
    let start = text.find("http").expect("a link in the text");
    text[start..].split_whitespace().next().unwrap().to_string()
}

async fn magic_link_then_sms_otp_to_tokens(backend: Backend) {
    let (app, sink) = setup(&backend, "").await;
    let browser = Browser::default();
    let (_, html) = login_page(&app, &browser).await;
    assert!(html.contains("Email me a sign-in link"), "{html}");
    assert!(
        !html.contains("type=\"password\""),
        "this flow has no password step"
    );
    let (status, page) = ask_link_on(&app, &browser, &html, "dana@acme.example").await;
    assert_eq!(status, 200);
    assert!(page.contains("Check your email"), "{page}");

    let mails = sink.wait_for(1).await;
    let mail = &mails[0];
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["dana@acme.example"]));
    assert_eq!(mail["authenticated_as"], SMTP_USER, "SMTP AUTH was used");
    assert_eq!(mail["from"], "Acme sign-in <signin@acme.example>");
    assert_eq!(mail["subject"], "Sign in to Link Web");
    let link = link_in(mail);
    assert!(
        link.starts_with(&format!("{}/magic-link?token=", app.issuer("acme"))),
        "{link}"
    );
    let token = link.split("token=").nth(1).unwrap();
    assert_eq!(token.len(), 43, "256 bits, base64url");
    let html_part = mail["html"].as_str().expect("an HTML part");
    assert!(
        html_part
            .replace("&#x2f;", "/")
            .contains(&format!("href=\"{link}\"")),
        "{html_part}"
    );
    // Only the hash is stored.
    let stored: Vec<String> = {
        use diesel::prelude::*;
        use sesame::store::schema::magic_links::dsl::*;
        magic_links
            .select(token_hash)
            .load(&mut app.db.get().unwrap())
            .unwrap()
    };
    assert_eq!(stored, vec![sesame::secret::sha256_hex(token)]);

    let res = browser.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let otp_url = location(&res);
    assert!(otp_url.contains("/otp?tx="), "SMS OTP follows: {otp_url}");
    get(&browser, &otp_url).await;
    assert_eq!(app.sms.sent().last().unwrap().to, "+447400900321");
    let res = submit(&browser, &otp_url, &[("code", &last_code(&app))]).await;
    let code = code_at(&res, CB);
    let claims = exchange_ml(&app, &code).await;
    assert_eq!(
        claims["amr"],
        serde_json::json!(["email", "sms", "otp", "mfa"])
    );
    assert_eq!(claims["acr"], "urn:sesame:acr:mfa");
}

async fn exchange_ml(app: &TestApp, code: &str) -> Value {
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("ml-web", Some(SECRET))
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

async fn a_link_works_once_and_only_in_its_browser(backend: Backend) {
    let (app, sink) = setup(&backend, "").await;
    let browser = Browser::default();
    let (status, _) = ask_link(&app, &browser, "dana").await;
    assert_eq!(status, 200);
    let link = link_in(&sink.wait_for(1).await[0]);

    // Another browser (or a mail scanner): a clear page, and the link is not used up.
    let other = Browser::default();
    let (status, page) = get(&other, &link).await;
    assert_eq!(status, 403);
    assert!(
        page.contains("only works in the browser where you asked for it"),
        "{page}"
    );

    let res = browser.client.get(&link).send().await.unwrap();
    assert_eq!(res.status(), 303, "still good in its own browser");
    assert!(location(&res).contains("/otp?tx="));

    // Used once: the second time says so.
    let (status, page) = get(&browser, &link).await;
    assert_eq!(status, 400);
    assert!(page.contains("already used"), "{page}");

    // A token nobody issued.
    let (status, page) = get(
        &browser,
        &format!("{}/magic-link?token=nope", app.issuer("acme")),
    )
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("not valid"), "{page}");
}

async fn expired_and_replaced_links_are_refused(backend: Backend) {
    let (app, sink) = setup(&backend, "").await;
    let browser = Browser::default();
    let (_, html) = login_page(&app, &browser).await;
    ask_link_on(&app, &browser, &html, "dana").await;
    let first = link_in(&sink.wait_for(1).await[0]);
    // The same sign-in asks again: the newer link replaces the older one.
    let login = format!(
        "{}/login?tx={}",
        app.issuer("acme"),
        form_field(&html, "tx").unwrap()
    );
    let (_, html2) = get(&browser, &login).await;
    ask_link_on(&app, &browser, &html2, "dana").await;
    let second = link_in(&sink.wait_for(2).await[1]);
    assert_ne!(first, second);
    let (status, page) = get(&browser, &first).await;
    assert_eq!(status, 400);
    assert!(page.contains("newer link replaces older ones"), "{page}");

    sql(&app, "UPDATE magic_links SET expires_at = 1000");
    let (status, page) = get(&browser, &second).await;
    assert_eq!(status, 400);
    assert!(page.contains("This link has expired"), "{page}");
}

async fn the_answer_does_not_tell_who_exists(backend: Backend) {
    let (app, sink) = setup(&backend, "").await;
    let strip = |page: &str, id: &str| {
        // The page differs only by what was typed and its per-page values.
        page.replace(id, "ID")
            .lines()
            .filter(|l| !l.contains("tx="))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let (s1, unknown) = ask_link(&app, &Browser::default(), "nobody@acme.example").await;
    // eve exists but her address is not verified: no link either.
    let (s2, unverified) = ask_link(&app, &Browser::default(), "eve").await;
    let (s3, known) = ask_link(&app, &Browser::default(), "dana@acme.example").await;
    assert_eq!((s1, s2, s3), (200, 200, 200));
    assert_eq!(
        strip(&unknown, "nobody@acme.example"),
        strip(&known, "dana@acme.example")
    );
    assert_eq!(
        strip(&unverified, "eve"),
        strip(&known, "dana@acme.example")
    );
    let mails = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "only dana got a mail");
    assert_eq!(
        mails[0]["rcpt_tos"],
        serde_json::json!(["dana@acme.example"])
    );
}

async fn sends_are_limited_per_address_and_per_ip(backend: Backend) {
    let (app, sink) = setup(&backend, "max_sends_per_address = 2\nmax_sends_per_ip = 4").await;
    for _ in 0..3 {
        let (status, page) = ask_link(&app, &Browser::default(), "dana").await;
        assert_eq!(status, 200, "the same answer past the address limit");
        assert!(page.contains("Check your email"));
    }
    sink.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 2, "the third send was held back");
    let (status, _) = ask_link(&app, &Browser::default(), "nobody").await;
    assert_eq!(status, 200, "fourth from this IP");
    let (status, page) = ask_link(&app, &Browser::default(), "nobody").await;
    assert_eq!(status, 429, "fifth from this IP");
    assert!(page.contains("Too many sign-in links"), "{page}");
}

/// A certificate for `localhost` (self-signed, so it is its own root), written to `dir`.
fn localhost_cert(dir: &std::path::Path) -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (c, k) = (dir.join("smtp-cert.pem"), dir.join("smtp-key.pem"));
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(&k, cert.signing_key.serialize_pem()).unwrap();
    (c.display().to_string(), k.display().to_string())
}

/// An organization whose mailer is `mail` (TOML lines), with dana and the ml-web app.
fn mail_toml(mail: &str) -> String {
    format!(
        r#"
[[organizations]]
slug = "acme"
[organizations.mail]
{mail}

[[organizations.applications]]
client_id = "ml-web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{CB}"]
sign_in_flow = [["magic_link"], ["sms_otp"]]

[[organizations.users]]
username = "dana"
email = "dana@acme.example"
email_verified = true
"#
    )
}

/// STARTTLS and implicit TLS against the test server with a certificate from a private root given as
/// `ca_file`; then the same server with no `ca_file`: the certificate is refused, nothing sent.
async fn smtp_over_starttls_and_tls(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let (cert, key) = localhost_cert(app.test_db.dir.path());
    let password_file = app.write_file("smtp-password", SMTP_PASSWORD);
    for mode in ["starttls", "tls"] {
        let sink = SmtpSink::start_with(&[mode, &cert, &key]);
        let mail = format!(
            "transport = \"smtp\"\nhost = \"localhost\"\nport = {}\ntls = \"{mode}\"\nusername = \"{SMTP_USER}\"\npassword = {{ file = \"{}\" }}\nca_file = \"{cert}\"\nfrom = \"signin@acme.example\"",
            sink.port,
            password_file.display()
        );
        app.import(&mail_toml(&mail));
        app.state.forget_organization("acme");
        let (status, _) = ask_link(&app, &Browser::default(), "dana").await;
        assert_eq!(status, 200);
        let mails = sink.wait_for(1).await;
        assert_eq!(mails[0]["authenticated_as"], SMTP_USER, "{mode}");
        assert!(link_in(&mails[0]).contains("/magic-link?token="), "{mode}");

        // Without the private root the server's certificate is not trusted: no mail.
        let untrusting = mail.replace(&format!("ca_file = \"{cert}\"\n"), "");
        app.import(&mail_toml(&untrusting));
        app.state.forget_organization("acme");
        let (status, _) = ask_link(&app, &Browser::default(), "dana").await;
        assert_eq!(status, 200, "the answer does not depend on delivery");
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            sink.messages().len(),
            1,
            "{mode}: nothing sent to an untrusted server"
        );
    }
}

/// The file mailer writes one message per file, with both parts.
async fn the_file_mailer_writes_eml_files(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let dir = app.test_db.dir.path().join("mail");
    std::fs::create_dir(&dir).unwrap();
    app.import(&mail_toml(&format!(
        "transport = \"file\"\ndir = \"{}\"",
        dir.display()
    )));
    let (status, _) = ask_link(&app, &Browser::default(), "dana@acme.example").await;
    assert_eq!(status, 200);
    let mut files = Vec::new();
    for _ in 0..200 {
        files = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))
            })
            .collect::<Vec<_>>();
        if !files.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(files.len(), 1);
    let path = files.pop().unwrap().unwrap().path();
    assert_eq!(path.extension().unwrap(), "eml");
    let raw = std::fs::read_to_string(&path).unwrap();
    assert!(raw.contains("To: dana@acme.example"), "{raw}");
    assert!(raw.contains("multipart/alternative"), "{raw}");
    assert!(raw.contains("text/html"), "{raw}");
    assert!(raw.contains("/magic-link?token="), "{raw}");
}

both_backends!(
    magic_link_then_sms_otp_to_tokens,
    a_link_works_once_and_only_in_its_browser,
    expired_and_replaced_links_are_refused,
    the_answer_does_not_tell_who_exists,
    sends_are_limited_per_address_and_per_ip,
    smtp_over_starttls_and_tls,
    the_file_mailer_writes_eml_files,
);
