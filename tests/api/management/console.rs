//! The web console from a browser's side (cookies kept, redirects followed one by one): the
//! administrator signs in through Sesame with an SMS code, reads the organizations, changes the
//! SMS OTP settings (refused values shown beside their field), reads the audit entry, signs out.

use super::*;
use crate::helpers::form_field;
use crate::sms_otp::get;

/// Creates `alice` (an administrator with a number) with `role` over acme; her password.
pub(super) fn create_alice(app: &TestApp, role: &str) -> String {
    let out = app.cli(&[
        "admin",
        "create",
        "--username",
        "alice",
        "--phone",
        "+44 7400 900777",
        "--org",
        "acme",
        "--role",
        role,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
        .lines()
        .find_map(|l| l.strip_prefix("password (shown once): "))
        .expect("the password printed")
        .to_string()
}

/// Opens the console and signs in as `username` with the SMS code; the browser then holds the
/// console's session.
pub(super) async fn console_sign_in(
    app: &TestApp,
    browser: &Browser,
    username: &str,
    password: &str,
) {
    let console = format!("{}/console/", app.address);
    let res = browser.client.get(&console).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(
        location(&res).ends_with("/console/login"),
        "{}",
        location(&res)
    );
    let res = browser.client.get(location(&res)).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let authorize = location(&res);
    assert!(
        authorize.starts_with(&format!("{}/authorize?", app.issuer("admin")))
            && authorize.contains("code_challenge_method=S256")
            && authorize.contains("prompt=login"),
        "{authorize}"
    );
    let res = browser
        .authorize_and_sign_in(&authorize, username, password)
        .await;
    assert_eq!(res.status(), 303);
    let otp = location(&res);
    assert!(
        otp.contains("/otp?tx="),
        "the console asks for a code: {otp}"
    );
    let (status, _) = get(browser, &otp).await;
    assert_eq!(status, 200);
    let res = submit(browser, &otp, &[("code", &last_code(app))]).await;
    assert_eq!(res.status(), 303);
    let back = location(&res);
    assert!(
        back.starts_with(&format!("{}/console/callback?", app.address)),
        "{back}"
    );
    let res = browser.client.get(&back).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{}/console/", app.address));
}

async fn an_administrator_changes_the_sms_otp_settings_in_the_console(backend: Backend) {
    let app = setup(&backend).await;
    let password = create_alice(&app, "admin");
    let browser = Browser::default();
    console_sign_in(&app, &browser, "alice", &password).await;
    let console = format!("{}/console", app.address);
    let res = browser
        .client
        .get(format!("{console}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let home = res.text().await.unwrap();
    assert!(
        home.contains("Signed in as <strong>alice</strong>")
            && home.contains("o/acme/\">Acme Corp</a>"),
        "{home}"
    );
    assert!(!home.contains("o/other/"), "only where alice has a role");

    let form_url = format!("{console}/o/acme/sms-otp");
    let (status, html) = get(&browser, &form_url).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("SMS OTP expiry time")
            && html.contains("Use only numeric characters for OTP")
            && html.contains("SMS OTP length")
    );
    let csrf = form_field(&html, "csrf").expect("a form token");
    let version = form_field(&html, "version").expect("the version read");
    let post = |fields: Vec<(&'static str, String)>| {
        let browser = &browser;
        let url = form_url.clone();
        async move {
            browser
                .client
                .post(&url)
                .form(&fields)
                .send()
                .await
                .unwrap()
        }
    };
    let fields = |length: &str, csrf: &str| {
        vec![
            ("csrf", csrf.to_string()),
            ("version", version.clone()),
            ("expiry_seconds", "240".to_string()),
            ("numeric_only", "true".to_string()),
            ("length", length.to_string()),
            ("resend_attempts", "3".to_string()),
        ]
    };
    // Refused: shown again with the value entered and why, beside the field.
    let res = post(fields("3", &csrf)).await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(html.contains("id=\"length-error\""), "{html}");
    assert!(html.contains("aria-invalid=\"true\""), "{html}");
    assert!(
        html.contains("id=\"length\" name=\"length\" value=\"3\""),
        "the value entered is shown again: {html}"
    );
    // A form from elsewhere is refused.
    let res = post(fields("8", "forged")).await;
    assert_eq!(res.status(), 403);
    let res = post(fields("8", &csrf)).await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let (status, html) = get(&browser, &format!("{form_url}?saved=1")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("were updated")
            && html.contains("value=\"8\"")
            && html.contains("value=\"240\""),
        "{html}"
    );
    // The same form again: its version is gone, nothing is overwritten.
    let res = post(fields("9", &csrf)).await;
    assert_eq!(res.status(), 400);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Someone changed these settings")
    );

    // The API sees it, and the next sign-in's code follows it.
    let root = token(&app, "ops-root").await;
    let a = call(
        &app,
        Some(&root),
        Method::GET,
        "/organizations/acme",
        None,
        None,
    )
    .await;
    assert_eq!(a.body["settings"]["sms_otp"]["length"], 8);
    assert_eq!(a.body["settings"]["sms_otp"]["expiry_seconds"], 240);

    let (status, html) = get(&browser, &format!("{console}/o/acme/audit")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("organization.update")
            && html.contains("settings.sms_otp")
            && html.contains("alice")
            && html.contains("(console"),
        "{html}"
    );

    // A sign-in that did not start in this browser is refused.
    let (status, html) = get(
        &browser,
        &format!("{console}/callback?code=stolen&state=guessed"),
    )
    .await;
    assert_eq!(status, 400);
    assert!(html.contains("did not start in this browser"), "{html}");
    // Signed out, the console asks for a sign-in again.
    let (_, html) = get(&browser, &format!("{console}/")).await;
    let csrf = form_field(&html, "csrf").unwrap();
    let res = browser
        .client
        .post(format!("{console}/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = browser.client.get(&form_url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).ends_with("/console/login"));
}

async fn a_viewer_reads_and_cannot_change(backend: Backend) {
    let app = setup(&backend).await;
    let password = create_alice(&app, "viewer");
    let browser = Browser::default();
    console_sign_in(&app, &browser, "alice", &password).await;
    let form_url = format!("{}/console/o/acme/sms-otp", app.address);
    let (status, html) = get(&browser, &form_url).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("not change them") && html.contains("disabled"),
        "{html}"
    );
    let csrf = form_field(&html, "csrf").unwrap();
    let version = form_field(&html, "version").unwrap();
    let res = browser
        .client
        .post(&form_url)
        .form(&[
            ("csrf", csrf.as_str()),
            ("version", version.as_str()),
            ("expiry_seconds", "240"),
            ("length", "8"),
            ("resend_attempts", "3"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let (status, _) = get(&browser, &format!("{}/console/o/other/", app.address)).await;
    assert_eq!(status, 403);
}

async fn the_demo_administrator_signs_in_to_the_console(backend: Backend) {
    use sesame::demo;
    let app = TestApp::spawn(&backend).await;
    let recorder = sesame::admin::audit::Recorder::new(
        &app.state.settings,
        sesame::admin::Actor::operator(sesame::admin::Via::Import),
    );
    demo::seed(&mut app.db.get().unwrap(), app.state.keys.kek(), &recorder)
        .unwrap()
        .expect("seeded");
    let banner = demo::banner(&app.address, None);
    assert!(
        banner.contains(&format!("{}/console/", app.address))
            && banner.contains(demo::DEMO_ADMIN_PASSWORD),
        "{banner}"
    );
    let browser = Browser::default();
    console_sign_in(
        &app,
        &browser,
        demo::DEMO_ADMIN_USERNAME,
        demo::DEMO_ADMIN_PASSWORD,
    )
    .await;
    assert_eq!(
        app.sms.sent().last().unwrap().to,
        demo::DEMO_ADMIN_PHONE,
        "the code went to the administrator's number"
    );
    let (status, home) = get(&browser, &format!("{}/console/", app.address)).await;
    assert_eq!(status, 200);
    for org in ["Sesame demo", "Administration"] {
        assert!(home.contains(org), "{org}: {home}");
    }
    // The console's application was created when first opened, and audited.
    let (status, html) = get(&browser, &format!("{}/console/o/admin/audit", app.address)).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("application.create") && html.contains("<code>console</code>"),
        "{html}"
    );
}

async fn sms_otp_is_added_as_a_second_factor_in_the_sign_in_method_tab(backend: Backend) {
    let app = setup(&backend).await;
    let password = create_alice(&app, "admin");
    let browser = Browser::default();
    console_sign_in(&app, &browser, "alice", &password).await;
    let console = format!("{}/console/o/acme", app.address);
    let (status, html) = get(&browser, &format!("{console}/applications")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Password Web")
            && html.contains("Username &amp; Password → SMS OTP or Backup code"),
        "{html}"
    );
    let page_url = format!("{console}/applications/pwd-web");
    let (status, html) = get(&browser, &page_url).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Add SMS OTP as a second factor") && html.contains("class=\"step\""),
        "{html}"
    );
    let csrf = form_field(&html, "csrf").unwrap();
    let version = form_field(&html, "version").unwrap();
    // The engine's rules, its message beside the steps.
    let res = browser
        .client
        .post(&page_url)
        .form(&[
            ("csrf", csrf.as_str()),
            ("version", version.as_str()),
            ("action", "steps"),
            ("steps", "sms_otp"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("id=\"steps-error\"") && html.contains("cannot be the first step"),
        "{html}"
    );
    let res = browser
        .client
        .post(&page_url)
        .form(&[
            ("csrf", csrf.as_str()),
            ("version", version.as_str()),
            ("action", "sms_otp"),
            ("backup_codes", "true"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let (status, html) = get(&browser, &format!("{page_url}?saved=1")).await;
    assert_eq!(status, 200);
    assert!(html.contains("was updated"), "{html}");
    assert_eq!(html.matches("class=\"step\"").count(), 2, "{html}");
    assert!(
        !html.contains("Add SMS OTP as a second factor</button>"),
        "{html}"
    );
    // The next sign-in to the application asks for a code.
    let user = Browser::default();
    let res = password_step(&app, &user, "pwd-web", "bob", BOB_PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).contains("/otp?tx="), "{}", location(&res));
}

both_backends!(
    sms_otp_is_added_as_a_second_factor_in_the_sign_in_method_tab,
    an_administrator_changes_the_sms_otp_settings_in_the_console,
    a_viewer_reads_and_cannot_change,
    the_demo_administrator_signs_in_to_the_console,
);
