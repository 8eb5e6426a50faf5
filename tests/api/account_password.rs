//! Changing one's password in the account area: the organization's policy (length, the common
//! list, the user's names), the other browsers signed out and their tokens revoked, this one
//! kept, the old password refused and the new one taken, an email to the verified address (a
//! real SMTP server), the event, and the policy's bounds checked at import.

use diesel::prelude::*;

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, form_field, stderr};
use crate::magic_link::SmtpSink;
use crate::sms_otp::{PWD_CB, SECRET, code_at, get, password_step, signed_in, token_response};

const OLD: &str = "daves-first-long-password";
const NEW: &str = "a new passphrase, autumn 2026";

fn toml(app: &TestApp, sink: &SmtpSink, policy: &str) -> String {
    let mail = sink.mail_section(app, "Acme accounts <accounts@acme.example>");
    format!(
        r#"
[[organizations]]
slug = "acme"
display_name = "Acme Corp"
[organizations.password_policy]
{policy}
{mail}

[[organizations.applications]]
client_id = "pwd-web"
name = "Password Web"
type = "confidential"
client_secret = "{SECRET}"
redirect_uris = ["{PWD_CB}"]

[[organizations.users]]
username = "dave"
password = "{OLD}"
email = "dave@acme.example"
email_verified = true
"#,
    )
}

/// Dave signs in with `password` in `browser`; the token endpoint's answer.
async fn sign_in(app: &TestApp, browser: &Browser, password: &str) -> serde_json::Value {
    let res = password_step(app, browser, "pwd-web", "dave", password).await;
    let code = code_at(&res, PWD_CB);
    token_response(app, "pwd-web", PWD_CB, &code).await
}

async fn change(
    app: &TestApp,
    browser: &Browser,
    password: &str,
    confirm: &str,
) -> reqwest::Response {
    let (_, html) = get(browser, &format!("{}/account/", app.issuer("acme"))).await;
    let csrf = form_field(&html, "csrf").expect("csrf");
    browser
        .client
        .post(format!("{}/account/password", app.issuer("acme")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("password", password),
            ("confirm", confirm),
        ])
        .send()
        .await
        .unwrap()
}

async fn a_password_is_changed_by_the_policy_and_the_rest_is_signed_out(backend: Backend) {
    let sink = SmtpSink::start();
    let app = TestApp::spawn(&backend).await;
    app.import(&toml(&app, &sink, "min_length = 10"));
    let (here, elsewhere) = (Browser::default(), Browser::default());
    let here_tokens = sign_in(&app, &here, OLD).await;
    let elsewhere_tokens = sign_in(&app, &elsewhere, OLD).await;
    let (status, html) = get(&here, &format!("{}/account/", app.issuer("acme"))).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Change my password") && html.contains("minlength=\"10\""),
        "{html}"
    );

    // Refused, each with its reason, and nothing changes.
    for (password, confirm, says) in [
        (NEW, "another one entirely", "differ"),
        ("short-pw", "short-pw", "at least 10"),
        ("1234567890", "1234567890", "commonly used"),
        ("dave-rocks-hard", "dave-rocks-hard", "username"),
    ] {
        let res = change(&app, &here, password, confirm).await;
        assert_eq!(res.status(), 422, "{password}");
        let html = res.text().await.unwrap();
        assert!(html.contains(says), "{password}: {html}");
    }
    assert!(signed_in(&app, &elsewhere).await);
    // Without the form's token, nothing changes either.
    let res = here
        .client
        .post(format!("{}/account/password", app.issuer("acme")))
        .form(&[("csrf", "forged"), ("password", NEW), ("confirm", NEW)])
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 303);
    assert!(signed_in(&app, &elsewhere).await);

    let res = change(&app, &here, NEW, NEW).await;
    assert_eq!(res.status(), 303);
    assert!(
        crate::helpers::location(&res).ends_with("/account/?changed=password_changed"),
        "{}",
        crate::helpers::location(&res)
    );
    // The other browser is signed out and its tokens stop working; this one stays.
    assert!(!signed_in(&app, &elsewhere).await);
    assert_eq!(
        app.userinfo_status(elsewhere_tokens["access_token"].as_str().unwrap())
            .await,
        401
    );
    assert!(signed_in(&app, &here).await);
    assert_eq!(
        app.userinfo_status(here_tokens["access_token"].as_str().unwrap())
            .await,
        200
    );
    // The old password no longer signs in; the new one does.
    let res = password_step(&app, &Browser::default(), "pwd-web", "dave", OLD).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Wrong username or password.")
    );
    sign_in(&app, &Browser::default(), NEW).await;

    // Dave is told, without the password.
    let mail = &sink.wait_for(1).await[0];
    assert_eq!(mail["rcpt_tos"][0], "dave@acme.example", "{mail}");
    assert_eq!(mail["subject"], "Your Acme Corp password was changed");
    assert!(
        mail["text"].as_str().unwrap().contains("signed out") && !mail.to_string().contains(NEW),
        "{mail}"
    );
    let (_, html) = get(
        &here,
        &format!("{}/account/?changed=password_changed", app.issuer("acme")),
    )
    .await;
    assert!(html.contains("Your password was changed"), "{html}");
    assert!(html.contains("password changed"), "{html}");
    let types: Vec<String> = {
        use sesame::store::schema::event_outbox::dsl::*;
        event_outbox
            .select(event_type)
            .load(&mut app.db.get().unwrap())
            .unwrap()
    };
    assert!(
        types.contains(&"PasswordUpdatedEvent".to_string()),
        "{types:?}"
    );

    // The policy's bounds are checked at import.
    let path = app.write_file("bad-policy.toml", &toml(&app, &sink, "min_length = 6"));
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("password_policy") && stderr(&out).contains("min_length"),
        "{}",
        stderr(&out)
    );
}

both_backends!(a_password_is_changed_by_the_policy_and_the_rest_is_signed_out);
