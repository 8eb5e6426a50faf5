//! The account area's sessions and connected applications: listed with their browser and
//! address, one other session or all others signed out (their tokens stop working, this one
//! stays), an application's access taken away (its tokens and consent gone).

use diesel::prelude::*;

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, form_field, location};
use crate::sms_otp::{
    BOB_PASSWORD, MFA_CB, PWD_CB, code_at, get, last_code, password_step, setup_default, signed_in,
    submit, token_response,
};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const EDGE: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";

fn browser(user_agent: &str) -> Browser {
    Browser {
        client: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(user_agent)
            .build()
            .unwrap(),
    }
}

/// The access token of a code exchange.
async fn access_token(app: &TestApp, client_id: &str, cb: &str, code: &str) -> String {
    let body = token_response(app, client_id, cb, code).await;
    body["access_token"].as_str().unwrap().to_string()
}

/// Bob signs in to the password-only application in `browser`: the access token it gets.
async fn password_only(app: &TestApp, browser: &Browser) -> String {
    let res = password_step(app, browser, "pwd-web", "bob", BOB_PASSWORD).await;
    let code = code_at(&res, PWD_CB);
    access_token(app, "pwd-web", PWD_CB, &code).await
}

async fn post(
    app: &TestApp,
    browser: &Browser,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (_, html) = get(browser, &format!("{}/account/", app.issuer("acme"))).await;
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

/// The `sid` of the session the browser sending `agent` opened.
fn sid_of(app: &TestApp, agent: &str) -> String {
    use sesame::store::schema::sessions::dsl::*;
    sessions
        .filter(user_agent.eq(agent))
        .select(sid)
        .first::<String>(&mut app.db.get().unwrap())
        .unwrap()
}

fn event_types(app: &TestApp) -> Vec<String> {
    use sesame::store::schema::event_outbox::dsl::*;
    event_outbox
        .select(event_type)
        .load(&mut app.db.get().unwrap())
        .unwrap()
}

async fn sessions_and_applications_are_listed_and_signed_out(backend: Backend) {
    let app = setup_default(&backend).await;
    // Firefox passes bob's whole chain (so it may change things); Edge signs in with the
    // password only.
    let firefox = browser(FIREFOX);
    let res = password_step(&app, &firefox, "mfa-web", "bob", BOB_PASSWORD).await;
    let otp = location(&res);
    get(&firefox, &otp).await;
    let res = submit(&firefox, &otp, &[("code", &last_code(&app))]).await;
    let code = code_at(&res, MFA_CB);
    let firefox_token = access_token(&app, "mfa-web", MFA_CB, &code).await;
    let edge = browser(EDGE);
    let edge_token = password_only(&app, &edge).await;

    let account = format!("{}/account/", app.issuer("acme"));
    let (status, html) = get(&firefox, &account).await;
    assert_eq!(status, 200);
    let sessions = html
        .split("id=\"sessions\"")
        .nth(1)
        .and_then(|rest| rest.split("</ul>").next())
        .expect("the sessions")
        .to_string();
    assert!(
        sessions.contains("Firefox on Linux at 127.0.0.1")
            && sessions.contains("(this browser)")
            && sessions.contains("Edge on Windows at 127.0.0.1"),
        "{sessions}"
    );
    // This browser comes first and has no sign-out button of its own.
    assert!(
        sessions.find("Firefox").unwrap() < sessions.find("Edge").unwrap(),
        "{sessions}"
    );
    assert_eq!(sessions.matches("value=\"end\"").count(), 1, "{sessions}");
    assert!(
        html.contains("MFA Web") && html.contains("Password Web"),
        "{html}"
    );

    // This browser cannot be signed out from here.
    let own = sid_of(&app, FIREFOX);
    let res = post(
        &app,
        &firefox,
        "/account/sessions",
        &[("action", "end"), ("sid", &own)],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(signed_in(&app, &firefox).await);

    // Another user's session is not bob's to end.
    let carol = browser("carol-agent");
    let res = password_step(&app, &carol, "pwd-web", "carol", "carols-long-password").await;
    code_at(&res, PWD_CB);
    let carols = sid_of(&app, "carol-agent");
    let res = post(
        &app,
        &firefox,
        "/account/sessions",
        &[("action", "end"), ("sid", &carols)],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert!(signed_in(&app, &carol).await);

    // Edge signed out: its token stops working, Firefox's does not.
    let edge_sid = form_field(&html, "sid").expect("the other session's sid");
    assert_ne!(edge_sid, own);
    let res = post(
        &app,
        &firefox,
        "/account/sessions",
        &[("action", "end"), ("sid", &edge_sid)],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).ends_with("/account/?changed=sessions_ended"));
    assert!(!signed_in(&app, &edge).await, "Edge must sign in again");
    assert_eq!(app.userinfo_status(&edge_token).await, 401);
    assert_eq!(app.userinfo_status(&firefox_token).await, 200);
    assert!(signed_in(&app, &firefox).await);
    let (_, html) = get(&firefox, &format!("{account}?changed=sessions_ended")).await;
    assert!(html.contains("Those sessions are signed out."));
    assert!(!html.contains("Edge on Windows"), "{html}");
    assert!(html.contains("sessions ended (1 session)"), "{html}");

    // Two more browsers, signed out together; Firefox stays.
    let (one, two) = (browser(EDGE), browser("curl/8.5.0"));
    password_only(&app, &one).await;
    password_only(&app, &two).await;
    let (_, html) = get(&firefox, &account).await;
    // (The page escapes `/`.)
    assert!(html.contains("curl&#x2f;8.5.0 at 127.0.0.1"), "{html}");
    let res = post(
        &app,
        &firefox,
        "/account/sessions",
        &[("action", "end_others")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(!signed_in(&app, &one).await && !signed_in(&app, &two).await);
    assert!(signed_in(&app, &firefox).await);
    assert!(signed_in(&app, &carol).await, "only bob's sessions end");

    // MFA Web's access taken away: its token stops working, the session stays.
    let (_, html) = get(&firefox, &account).await;
    let apps = html
        .split("id=\"applications\"")
        .nth(1)
        .and_then(|rest| rest.split("</ul>").next())
        .expect("the applications")
        .to_string();
    // (Firefox's authorizations above connected Password Web again.)
    let mfa_web = apps
        .split("<li>")
        .find(|item| item.contains("MFA Web"))
        .unwrap_or_else(|| panic!("MFA Web in {apps}"));
    let id = form_field(mfa_web, "id").expect("the application's id");
    let res = post(
        &app,
        &firefox,
        "/account/applications",
        &[("id", "not-an-app")],
    )
    .await;
    assert_eq!(res.status(), 422);
    assert_eq!(app.userinfo_status(&firefox_token).await, 200);
    let res = post(&app, &firefox, "/account/applications", &[("id", &id)]).await;
    assert_eq!(res.status(), 303);
    assert!(location(&res).ends_with("?changed=application_access_removed"));
    assert_eq!(app.userinfo_status(&firefox_token).await, 401);
    let (_, html) = get(&firefox, &account).await;
    assert!(
        html.contains("application access removed (MFA Web)"),
        "{html}"
    );
    let types = event_types(&app);
    assert!(
        types.contains(&"SessionsRevokedEvent".to_string())
            && types.contains(&"ApplicationAccessRevokedEvent".to_string()),
        "{types:?}"
    );
}

async fn a_stale_session_is_sent_to_confirm_first(backend: Backend) {
    let app = setup_default(&backend).await;
    // A password-only session cannot sign others out.
    let edge = browser(EDGE);
    password_only(&app, &edge).await;
    let other = browser(FIREFOX);
    password_only(&app, &other).await;
    let res = post(
        &app,
        &edge,
        "/account/sessions",
        &[("action", "end_others")],
    )
    .await;
    assert_eq!(res.status(), 303);
    assert!(
        location(&res).ends_with("/account/verify"),
        "{}",
        location(&res)
    );
    assert!(signed_in(&app, &other).await);
    // It sees its sessions, but not where the others are.
    let (_, html) = get(&edge, &format!("{}/account/", app.issuer("acme"))).await;
    assert!(
        html.contains("Firefox on Linux, signed in") && !html.contains(" at 127.0.0.1"),
        "{html}"
    );
    // Without the form's token nothing happens either.
    let res = edge
        .client
        .post(format!("{}/account/sessions", app.issuer("acme")))
        .form(&[("action", "end_others"), ("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), 303);
    assert!(signed_in(&app, &other).await);
}

both_backends!(
    sessions_and_applications_are_listed_and_signed_out,
    a_stale_session_is_sent_to_confirm_first
);
