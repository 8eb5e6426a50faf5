//! The account area: a user's own mobile number and backup codes, changed only after a fresh
//! pass through their whole chain.

use diesel::prelude::*;

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, form_field, location};
use crate::sms_otp::{
    BOB_PASSWORD, PWD_CB, code_at, get, last_code, password_step, post_form, setup, setup_default,
    sql, submit,
};

fn bob(app: &TestApp) -> sesame::store::users::User {
    let mut conn = app.db.get().unwrap();
    let org = sesame::store::organizations::Organization::find_by_slug(&mut conn, "acme")
        .unwrap()
        .unwrap();
    sesame::store::users::User::find_by_username(
        &mut conn,
        org.id,
        &sesame::domain::Username::parse("bob").unwrap(),
    )
    .unwrap()
    .unwrap()
}

fn backup_left(app: &TestApp) -> i64 {
    sesame::store::backup_codes::remaining(&mut app.db.get().unwrap(), &bob(app).id).unwrap()
}

fn event_types(app: &TestApp) -> Vec<String> {
    use sesame::store::schema::event_outbox::dsl::*;
    event_outbox
        .select(event_type)
        .load(&mut app.db.get().unwrap())
        .unwrap()
}

/// Posts one of the account page's forms (`path` under the issuer) with the page's CSRF token.
pub async fn change(
    app: &TestApp,
    browser: &Browser,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let account = format!("{}/account/", app.issuer("acme"));
    let (status, html) = get(browser, &account).await;
    assert_eq!(status, 200, "{html}");
    let mut form = vec![("csrf", form_field(&html, "csrf").expect("csrf"))];
    form.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
    browser
        .client
        .post(format!("{}{path}", app.issuer("acme")))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Passes bob's whole chain from a page that starts with the password step.
async fn full_chain(app: &TestApp, browser: &Browser, login_url: &str) -> reqwest::Response {
    assert!(login_url.contains("/login?tx="), "{login_url}");
    let res = browser.sign_in(login_url, "bob", BOB_PASSWORD).await;
    let otp_url = location(&res);
    assert!(otp_url.contains("/otp?tx="), "{otp_url}");
    get(browser, &otp_url).await;
    submit(browser, &otp_url, &[("code", &last_code(app))]).await
}

async fn changes_need_a_fresh_pass_through_the_whole_chain(backend: Backend) {
    let app = setup_default(&backend).await;
    let browser = Browser::default();
    let account = format!("{}/account/", app.issuer("acme"));
    // A password-only session (from the password-only application).
    let res = password_step(&app, &browser, "pwd-web", "bob", BOB_PASSWORD).await;
    code_at(&res, PWD_CB);
    let (status, html) = get(&browser, &account).await;
    assert_eq!(status, 200);
    assert!(html.contains("signed in as <strong>bob</strong>"));
    assert!(html.contains("ending in <strong>0123</strong>"));
    assert!(html.contains("confirm it is you"));

    // It cannot mint backup codes: it is sent to confirm first, and nothing changes.
    let res = change(
        &app,
        &browser,
        "/account/backup-codes",
        &[("action", "generate")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).ends_with("/account/verify"));
    assert_eq!(backup_left(&app), 0);
    let res = change(
        &app,
        &browser,
        "/account/phone",
        &[("number", "+14155550199")],
    )
    .await;
    assert!(location(&res).ends_with("/account/verify"));
    assert!(app.sms.sent().is_empty(), "no code sent to the new number");

    // Confirming runs the whole chain (the password again, then the SMS code) and comes back.
    let res = browser
        .client
        .get(format!("{}/account/verify", app.issuer("acme")))
        .send()
        .await
        .unwrap();
    let res = full_chain(&app, &browser, &location(&res)).await;
    assert_eq!(location(&res), account);
    let (_, html) = get(&browser, &account).await;
    assert!(html.contains("This confirmation expires in"), "{html}");

    // Now codes can be generated: shown once, not cached.
    let res = change(
        &app,
        &browser,
        "/account/backup-codes",
        &[("action", "generate")],
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    assert_eq!(html.matches("<li><code>").count(), 10);
    assert_eq!(backup_left(&app), 10);
    let (_, html) = get(&browser, &account).await;
    assert!(html.contains("<strong>10</strong> unused backup codes"));
    assert!(html.contains("backup codes generated"), "recorded: {html}");

    // A form without the page's token is refused.
    let res = browser
        .client
        .post(format!("{}/account/backup-codes", app.issuer("acme")))
        .form(&[("csrf", "forged"), ("action", "remove")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(backup_left(&app), 10);

    // A bad number gets a clear message; a good one gets a code, and is saved once it is entered.
    let res = change(&app, &browser, "/account/phone", &[("number", "call me")]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("cannot be used"));
    let res = change(
        &app,
        &browser,
        "/account/phone",
        &[("number", "+1 415 555 0199")],
    )
    .await;
    let otp_url = location(&res);
    assert!(otp_url.contains("/otp?tx="), "{otp_url}");
    let (_, html) = get(&browser, &otp_url).await;
    assert!(html.contains("0199</strong>"), "{html}");
    assert!(
        !html.contains("backup-code?tx="),
        "a backup code cannot confirm a number"
    );
    assert_eq!(app.sms.sent().last().unwrap().to, "+14155550199");
    assert_eq!(
        bob(&app).phone_number.unwrap().as_str(),
        "+447400900123",
        "not yet"
    );
    let res = post_form(&browser, &otp_url, &html, &[("code", &last_code(&app))]).await;
    assert!(location(&res).ends_with("/account/?changed=mobile_number_changed"));
    let user = bob(&app);
    assert_eq!(user.phone_number.unwrap().as_str(), "+14155550199");
    assert!(user.phone_number_verified);

    let res = change(
        &app,
        &browser,
        "/account/backup-codes",
        &[("action", "remove")],
    )
    .await;
    assert!(location(&res).ends_with("?changed=backup_codes_removed"));
    assert_eq!(backup_left(&app), 0);
    assert_eq!(
        event_types(&app)
            .into_iter()
            .filter(|t| t.starts_with("BackupCodes") || t.starts_with("MobileNumber"))
            .collect::<Vec<_>>(),
        [
            "BackupCodesGeneratedEvent",
            "MobileNumberUpdatedEvent",
            "BackupCodesRemovedEvent"
        ]
    );

    let events = sesame::store::events::OutboxEvent::list(
        &mut app.db.get().unwrap(),
        bob(&app).organization_id,
        10,
    )
    .unwrap();
    let regenerated = events
        .iter()
        .find(|e| e.event_type == "BackupCodesGeneratedEvent")
        .unwrap();
    assert!(!regenerated.sealed, "no secret inside");
    let payload = sesame::events::open_payload(app.state.keys.kek(), regenerated).unwrap();
    assert_eq!(
        payload["aud"],
        format!("{}/websubhub/topics/acme/USER_OPERATIONS", app.address)
    );
    assert_eq!(
        payload["event"]["urn:ietf:params:user-operations:backupCodesRegenerated"]["userId"],
        bob(&app).id
    );

    // The confirmation wears off.
    sql(
        &app,
        r#"UPDATE sessions SET passed = '[{"method":"password","at":1},{"method":"sms_otp","at":1}]'"#,
    );
    let res = change(
        &app,
        &browser,
        "/account/backup-codes",
        &[("action", "generate")],
    )
    .await;
    assert!(location(&res).ends_with("/account/verify"));
    assert_eq!(backup_left(&app), 0);
}

async fn without_a_session_the_account_area_asks_for_the_whole_chain(backend: Backend) {
    let app = setup_default(&backend).await;
    let browser = Browser::default();
    let account = format!("{}/account/", app.issuer("acme"));
    let res = browser.client.get(&account).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let res = full_chain(&app, &browser, &location(&res)).await;
    assert_eq!(location(&res), account);
    let (status, html) = get(&browser, &account).await;
    assert_eq!(status, 200);
    assert!(html.contains("This confirmation expires in"));
    assert!(
        html.contains("Your one-time password for the Acme Corp account")
            || app.sms.sent()[0].body.contains("for the Acme Corp account"),
        "the text names the account"
    );
}

both_backends!(
    changes_need_a_fresh_pass_through_the_whole_chain,
    without_a_session_the_account_area_asks_for_the_whole_chain,
);

async fn a_number_change_stays_with_its_user_and_its_fresh_session(backend: Backend) {
    let app = setup(
        &backend,
        "resend_cooldown_seconds = 0\nenroll_with_password_only = true",
        "max_attempts = 20",
    )
    .await;
    let browser = Browser::default();
    // carol has no second factor: her password alone is her chain, and she adds a number.
    let res = password_step(&app, &browser, "pwd-web", "carol", "carols-long-password").await;
    code_at(&res, PWD_CB);
    let res = change(
        &app,
        &browser,
        "/account/phone",
        &[("number", "+14155550111")],
    )
    .await;
    let otp_url = location(&res);
    assert!(otp_url.contains("/otp?tx="), "{otp_url}");
    // That sign-in cannot be turned into bob's: its password page is closed.
    let login = otp_url.replace("/otp?", "/login?");
    let (status, _) = get(&browser, &login).await;
    assert_eq!(status, 400);
    // Entered after the confirmation wore off, the code saves nothing.
    let (_, html) = get(&browser, &otp_url).await;
    sql(
        &app,
        r#"UPDATE sessions SET passed = '[{"method":"password","at":1}]'"#,
    );
    let res = post_form(&browser, &otp_url, &html, &[("code", &last_code(&app))]).await;
    assert_eq!(res.status(), 403);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Confirm it is you again")
    );
    let mut conn = app.db.get().unwrap();
    let org = sesame::store::organizations::Organization::find_by_slug(&mut conn, "acme")
        .unwrap()
        .unwrap();
    let carol = sesame::store::users::User::find_by_username(
        &mut conn,
        org.id,
        &sesame::domain::Username::parse("carol").unwrap(),
    )
    .unwrap()
    .unwrap();
    assert!(carol.phone_number.is_none());
}

both_backends!(a_number_change_stays_with_its_user_and_its_fresh_session);

/// Without a second factor, a password alone adds no number unless the organization allows it
/// (`sms_otp.enroll_with_password_only`); when it does, numbers are checked against the
/// numbering plan and the texts to new numbers count toward the user's limits (the finding: 12
/// numbers texted in 11 minutes).
async fn numbers_added_by_password_alone_follow_the_switch_and_the_limits(backend: Backend) {
    let app = setup_default(&backend).await;
    let browser = Browser::default();
    let res = password_step(&app, &browser, "pwd-web", "carol", "carols-long-password").await;
    code_at(&res, PWD_CB);
    let (_, html) = get(&browser, &format!("{}/account/", app.issuer("acme"))).await;
    assert!(
        html.contains("Your administrator adds mobile numbers"),
        "{html}"
    );
    let res = change(
        &app,
        &browser,
        "/account/phone",
        &[("number", "+14155550111")],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Your administrator adds mobile numbers")
    );
    assert!(app.sms.sent().is_empty());

    let app = setup(
        &backend,
        "resend_cooldown_seconds = 0\nresend_attempts = 2\nenroll_with_password_only = true",
        "max_attempts = 50",
    )
    .await;
    let browser = Browser::default();
    let res = password_step(&app, &browser, "pwd-web", "carol", "carols-long-password").await;
    code_at(&res, PWD_CB);
    for (number, says) in [
        ("+44 7700 900123", "not a valid mobile number"),
        ("+44 909 879 0000", "premium-rate"),
        ("+44 20 7946 0000", "only be sent to mobile numbers"),
    ] {
        let res = change(&app, &browser, "/account/phone", &[("number", number)]).await;
        assert_eq!(res.status(), 422, "{number}");
        let html = res.text().await.unwrap();
        assert!(html.contains(says), "{number}: {html}");
    }
    for n in 0..12 {
        let number = format!("+1415555{:04}", 120 + n);
        let res = change(&app, &browser, "/account/phone", &[("number", &number)]).await;
        let otp_url = location(&res);
        assert!(otp_url.contains("/otp?tx="), "{otp_url}");
        get(&browser, &otp_url).await;
    }
    assert_eq!(app.sms.sent().len(), 3, "resend_attempts + 1 an hour");
}

both_backends!(numbers_added_by_password_alone_follow_the_switch_and_the_limits);
