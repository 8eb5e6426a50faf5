//! Adding a first mobile number during sign-in (`[organizations.enrollment] sms_otp =
//! "during_sign_in"`, the guide's progressive enrollment) and switching self-enrollment of
//! numbers off.

use diesel::prelude::*;

use crate::account::change;
use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, location};
use crate::sms_otp::{
    BOB_PASSWORD, MFA_CB, acme_toml, code_at, get, last_code, password_step, post_form, submit,
};

async fn setup(backend: &Backend, switch: &str) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.import(&format!(
        "{}\n[[organizations.applications]]\nclient_id = \"native-sms\"\ntype = \"public\"\napp_native = true\nsign_in_flow = [[\"password\"], [\"sms_otp\"]]\nredirect_uris = [\"{}\"]\n\n[organizations.enrollment]\nsms_otp = \"{switch}\"\n",
        acme_toml("resend_cooldown_seconds = 0", "max_attempts = 20"),
        crate::native::CB
    ));
    app
}

fn phone_of(app: &TestApp, who: &str) -> (Option<String>, bool) {
    use sesame::store::schema::users::dsl::*;
    users
        .filter(username.eq(who))
        .select((phone_number, phone_number_verified))
        .first(&mut app.db.get().unwrap())
        .unwrap()
}

fn event_types(app: &TestApp) -> Vec<String> {
    use sesame::store::schema::event_outbox::dsl::*;
    event_outbox
        .select(event_type)
        .load(&mut app.db.get().unwrap())
        .unwrap()
}

async fn a_user_without_a_second_factor_adds_a_number_during_sign_in(backend: Backend) {
    let app = setup(&backend, "during_sign_in").await;
    let carol = Browser::default();
    let res = password_step(&app, &carol, "mfa-web", "carol", "carols-long-password").await;
    let otp_url = location(&res);
    assert!(otp_url.contains("/otp?tx="), "{otp_url}");
    let (status, html) = get(&carol, &otp_url).await;
    assert_eq!(status, 200);
    assert!(html.contains("Add your mobile number"), "{html}");
    assert!(app.sms.sent().is_empty(), "no code before a number");
    // A number the numbering plan refuses: the page says why, nothing is sent.
    let res = post_form(
        &carol,
        &otp_url,
        &html,
        &[("action", "number"), ("number", "+44 909 879 0000")],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("premium-rate"));
    assert!(app.sms.sent().is_empty());
    // A mobile number: a code goes to it, and the page asks for it.
    let res = submit(
        &carol,
        &otp_url,
        &[("action", "number"), ("number", "+1 415 555 0177")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("ending in") || html.contains("0177"),
        "{html}"
    );
    assert_eq!(app.sms.sent().last().unwrap().to, "+14155550177");
    assert_eq!(phone_of(&app, "carol"), (None, false), "not saved yet");
    // A wrong code saves nothing.
    let code = last_code(&app);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let res = submit(&carol, &otp_url, &[("action", "verify"), ("code", wrong)]).await;
    assert_eq!(res.status(), 422);
    assert_eq!(phone_of(&app, "carol"), (None, false));
    // The right one saves the number, verified, and passes the step.
    let res = submit(&carol, &otp_url, &[("action", "verify"), ("code", &code)]).await;
    code_at(&res, MFA_CB);
    assert_eq!(
        phone_of(&app, "carol"),
        (Some("+14155550177".to_string()), true)
    );
    assert!(event_types(&app).contains(&"MobileNumberUpdatedEvent".to_string()));

    // bob has a number: his step is the usual one, and he cannot add another here.
    let bob = Browser::default();
    let res = password_step(&app, &bob, "mfa-web", "bob", BOB_PASSWORD).await;
    let otp_url = location(&res);
    let (_, html) = get(&bob, &otp_url).await;
    assert!(!html.contains("Add your mobile number"), "{html}");
    let res = post_form(
        &bob,
        &otp_url,
        &html,
        &[("action", "number"), ("number", "+1 415 555 0188")],
    )
    .await;
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("This sign-in has expired")
    );
    assert_ne!(app.sms.sent().last().unwrap().to, "+14155550188");
    assert_eq!(phone_of(&app, "bob").0.as_deref(), Some("+447400900123"));
}

both_backends!(a_user_without_a_second_factor_adds_a_number_during_sign_in);

async fn numbers_can_be_left_to_administrators(backend: Backend) {
    let app = setup(&backend, "off").await;
    // carol: no number and no way to add one at sign-in.
    let carol = Browser::default();
    let res = password_step(&app, &carol, "mfa-web", "carol", "carols-long-password").await;
    let (_, html) = get(&carol, &location(&res)).await;
    assert!(html.contains("no verified mobile number"), "{html}");
    assert!(!html.contains("Add your mobile number"), "{html}");
    // bob, with a fresh pass through his chain, cannot change his number in the account area.
    let bob = Browser::default();
    let res = password_step(&app, &bob, "mfa-web", "bob", BOB_PASSWORD).await;
    let otp_url = location(&res);
    get(&bob, &otp_url).await;
    let res = submit(&bob, &otp_url, &[("code", &last_code(&app))]).await;
    code_at(&res, MFA_CB);
    let sent = app.sms.sent().len();
    let res = change(&app, &bob, "/account/phone", &[("number", "+14155550199")]).await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("administrator"));
    assert_eq!(app.sms.sent().len(), sent, "no code to the new number");
}

both_backends!(numbers_can_be_left_to_administrators);

async fn the_json_sign_in_api_adds_a_first_number_too(backend: Backend) {
    use crate::native::{start_with, step};
    use serde_json::json;
    let app = setup(&backend, "during_sign_in").await;
    let (_, started) = start_with(&app, "native-sms", &[]).await;
    let params = json!({ "username": "carol", "password": "carols-long-password" });
    let (_, next) = step(&app, &started["flowId"], "password", params).await;
    assert_eq!(next["nextStep"]["sms_otp"]["enroll"], true, "{next}");
    let params = json!({ "number": "+1 415 555 0166" });
    let (status, sent) = step(&app, &next["flowId"], "sms_otp", params).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(app.sms.sent().last().unwrap().to, "+14155550166");
    let params = json!({ "otp": last_code(&app) });
    let (_, done) = step(&app, &sent["flowId"], "sms_otp", params).await;
    assert_eq!(done["flowStatus"], "SUCCESS_COMPLETED", "{done}");
    assert_eq!(
        phone_of(&app, "carol"),
        (Some("+14155550166".to_string()), true)
    );
}

both_backends!(the_json_sign_in_api_adds_a_first_number_too);
