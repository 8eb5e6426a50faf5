//! Languages end to end: the client's `ui_locales` first (kept for every step of the sign-in and
//! its text message), then the browser's `Accept-Language`, then the organization's
//! `default_language`, then English; a step's errors, the waits ("in 30 seconds", never a UTC
//! time), the SMS text and the mails in that language; discovery's `ui_locales_supported`.

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, location};
use crate::magic_link::SmtpSink;
use crate::sms_otp::{BOB_PASSWORD, acme_toml, auth_url, get, post_form, submit};

/// A browser whose requests say `accept_language`.
fn browser(accept_language: Option<&str>) -> Browser {
    match accept_language {
        Some(value) => Browser::with_headers(&[("accept-language", value)]),
        None => Browser::default(),
    }
}

/// acme as the SMS OTP tests have it, with a 30-second resend cooldown and `branding` lines.
async fn setup(backend: &Backend, branding: &str) -> TestApp {
    let app = TestApp::spawn(backend).await;
    let otp = format!("resend_cooldown_seconds = 30\n[organizations.branding]\n{branding}");
    app.import(&acme_toml(&otp, "max_attempts = 20"));
    app
}

/// Opens mfa-web's sign-in in `browser` with `extra` authorization parameters: the sign-in
/// page's URL and HTML.
async fn sign_in_page(
    app: &TestApp,
    browser: &Browser,
    extra: &[(&str, &str)],
) -> (String, String) {
    let res = browser
        .client
        .get(auth_url(app, "mfa-web", extra))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let login = location(&res);
    let (status, html) = get(browser, &login).await;
    assert_eq!(status, 200, "{html}");
    (login, html)
}

/// The language a page says it is in.
fn lang(html: &str) -> &str {
    let start = html.find("<html lang=\"").expect("a lang attribute") + 12;
    &html[start..start + html[start..].find('"').unwrap()]
}

async fn the_client_then_the_browser_then_the_organization_choose_the_language(backend: Backend) {
    let app = setup(&backend, "").await;
    // No preference at all: English, as before.
    let (_, html) = sign_in_page(&app, &browser(None), &[]).await;
    assert_eq!(lang(&html), "en");
    assert!(html.contains("Sign in to MFA Web"), "{html}");

    // The browser's language, by quality.
    let german = browser(Some("fr-CH, fr;q=0.9, de;q=0.8, en;q=0.7"));
    let (login, html) = sign_in_page(&app, &german, &[]).await;
    assert_eq!(lang(&html), "de");
    assert!(html.contains("Bei MFA Web anmelden"), "{html}");
    // A step's error speaks it too.
    let res = post_form(
        &german,
        &login,
        &html,
        &[("username", "bob"), ("password", "wrong")],
    )
    .await;
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Benutzername oder Passwort ist falsch."),
        "{html}"
    );
    // The code page: the wait in words, the text message in German.
    let res = post_form(
        &german,
        &login,
        &html,
        &[("username", "bob"), ("password", BOB_PASSWORD)],
    )
    .await;
    assert_eq!(res.status(), 303);
    let otp = location(&res);
    let (_, html) = get(&german, &otp).await;
    assert_eq!(lang(&html), "de");
    assert!(html.contains("Code eingeben"), "{html}");
    assert!(
        html.contains("Sie können in 30 Sekunden einen neuen Code anfordern.")
            || html.contains("Sie können in 29 Sekunden einen neuen Code anfordern."),
        "{html}"
    );
    assert!(!html.contains("UTC"), "no raw times: {html}");
    let sms = app.sms.sent().last().unwrap().body.clone();
    assert!(
        sms.starts_with("Ihr Einmalpasswort für MFA Web lautet "),
        "{sms}"
    );
    let res = submit(&german, &otp, &[("code", "000000")]).await;
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Dieser Code ist nicht richtig. Noch 2 Versuche."),
        "{html}"
    );
    // Signed in, the account area lists the session with its times in words.
    let code: String = sms.chars().filter(char::is_ascii_digit).take(6).collect();
    let res = submit(&german, &otp, &[("code", &code)]).await;
    assert_eq!(res.status(), 303);
    let (status, html) = get(&german, &format!("{}/account/", app.issuer("acme"))).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Wo Sie angemeldet sind"), "{html}");
    assert!(
        html.contains("angemeldet gerade eben") || html.contains("angemeldet vor 1 Sekunde"),
        "{html}"
    );
    assert!(!html.contains("UTC"), "no raw times: {html}");
    // A sign-out asks in the language its request names (RP-Initiated Logout's ui_locales),
    // and its form keeps it for the page after.
    let logout = format!("{}/logout?ui_locales=es", app.issuer("acme"));
    let (status, html) = get(&german, &logout).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(lang(&html), "es");
    assert!(html.contains("name=\"ui_locales\" value=\"es\""), "{html}");

    // The client's ui_locales come before the browser's, for every step and the text message
    // (in another German browser: this one is signed in now).
    let german = browser(Some("fr-CH, fr;q=0.9, de;q=0.8, en;q=0.7"));
    let (login, html) = sign_in_page(&app, &german, &[("ui_locales", "fr-CA es-MX de")]).await;
    assert_eq!(lang(&html), "es");
    assert!(html.contains("Iniciar sesión en MFA Web"), "{html}");
    let res = post_form(
        &german,
        &login,
        &html,
        &[("username", "bob"), ("password", BOB_PASSWORD)],
    )
    .await;
    let otp = location(&res);
    let (_, html) = get(&german, &otp).await;
    assert_eq!(lang(&html), "es");
    assert!(html.contains("Introduzca el código"), "{html}");
    let sms = app.sms.sent().last().unwrap().body.clone();
    assert!(
        sms.starts_with("Su contraseña de un solo uso para MFA Web es "),
        "{sms}"
    );

    // Tags Sesame does not speak are passed over, not refused.
    let (_, html) = sign_in_page(&app, &browser(None), &[("ui_locales", "ja tlh")]).await;
    assert_eq!(lang(&html), "en");

    // Discovery says which languages the pages speak.
    let (_, doc) = app.discovery("acme").await;
    assert_eq!(
        doc["ui_locales_supported"],
        serde_json::json!(["en", "de", "es"])
    );
}

async fn the_organizations_default_language_comes_last(backend: Backend) {
    let app = setup(&backend, "default_language = \"es\"").await;
    let (_, html) = sign_in_page(&app, &browser(None), &[]).await;
    assert_eq!(lang(&html), "es");
    let (_, html) = sign_in_page(&app, &browser(Some("fr, ja;q=0.5")), &[]).await;
    assert_eq!(
        lang(&html),
        "es",
        "a browser asking only for others gets the default"
    );
    let (_, html) = sign_in_page(&app, &browser(Some("en-GB, es;q=0.5")), &[]).await;
    assert_eq!(
        lang(&html),
        "en",
        "a browser asking for one Sesame speaks gets it"
    );
    let (_, html) = sign_in_page(&app, &browser(Some("es;q=0, de;q=0.1")), &[]).await;
    assert_eq!(lang(&html), "de", "q=0 refuses a language");
    // A language Sesame does not speak is refused at import, by name.
    let broken = acme_toml("[organizations.branding]\ndefault_language = \"fr\"", "");
    let path = app.write_file("broken.toml", &broken);
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = crate::helpers::stderr(&out);
    assert!(
        err.contains("default_language: Sesame does not speak \"fr\""),
        "{err}"
    );
}

async fn mails_speak_the_language_of_the_page_they_were_asked_from(backend: Backend) {
    let sink = SmtpSink::start();
    let app = TestApp::spawn(&backend).await;
    let mail = sink.mail_section(&app, "Acme <accounts@acme.example>");
    let toml = acme_toml("resend_cooldown_seconds = 0", "")
        .replace("[organizations.lock_policy]", &format!("{mail}\n[organizations.lock_policy]"))
        .replace(
            "phone_number = \"+44 7400 900123\"",
            "phone_number = \"+44 7400 900123\"\nemail = \"bob@acme.example\"\nemail_verified = true",
        );
    app.import(&toml);
    let spanish = browser(Some("es-ES"));
    let (_, html) = sign_in_page(&app, &spanish, &[]).await;
    let forgot = crate::password_reset::href_of(&html, "¿Olvidó su contraseña?");
    let res = spanish.client.get(forgot).send().await.unwrap();
    let first = location(&res);
    let (_, html) = get(&spanish, &first).await;
    assert_eq!(lang(&html), "es");
    let res = post_form(
        &spanish,
        &format!("{}/magic-link", app.issuer("acme")),
        &html,
        &[("identifier", "bob")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let mail = sink.wait_for(1).await[0].clone();
    let subject = mail["subject"].as_str().unwrap();
    assert_eq!(subject, "Restablezca su contraseña de Acme Corp");
    let text = mail["text"].as_str().unwrap();
    assert!(text.contains("minutos"), "{text}");

    // A reset begun from a sign-in that asked for German (ui_locales) keeps German, in an
    // English browser: its pages and its mail.
    let english = browser(Some("en"));
    let (_, html) = sign_in_page(&app, &english, &[("ui_locales", "de")]).await;
    let forgot = crate::password_reset::href_of(&html, "Passwort vergessen?");
    let res = english.client.get(forgot).send().await.unwrap();
    let (_, html) = get(&english, &location(&res)).await;
    assert_eq!(lang(&html), "de", "{html}");
    let res = post_form(
        &english,
        &format!("{}/magic-link", app.issuer("acme")),
        &html,
        &[("identifier", "bob")],
    )
    .await;
    let html = res.text().await.unwrap();
    assert_eq!(lang(&html), "de", "{html}");
    let mail = sink.wait_for(2).await[1].clone();
    assert_eq!(
        mail["subject"].as_str().unwrap(),
        "Ihr Passwort für Acme Corp zurücksetzen"
    );
    let link = crate::password_reset::link_in(&mail);
    let res = english.client.get(&link).send().await.unwrap();
    let (_, html) = get(&english, &location(&res)).await;
    assert_eq!(lang(&html), "de", "the pages after the link too: {html}");
}

both_backends!(
    the_client_then_the_browser_then_the_organization_choose_the_language,
    the_organizations_default_language_comes_last,
    mails_speak_the_language_of_the_page_they_were_asked_from,
);
