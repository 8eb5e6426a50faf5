//! The app-native sign-in API (`response_mode=direct`, then `{issuer}/authn`) end to end: a
//! native app's public client signs a user in with the password and an SMS code (or a backup
//! code), gets a code and exchanges it with PKCE; wrong codes, locks, replayed flow ids and apps
//! that may not use the API get their JSON errors.

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, payload};
use crate::sms_otp::last_code;

pub const CB: &str = "io.acme.app:/callback";
const VERIFIER: &str = "a-pkce-code-verifier-for-the-native-api-tests-0123456789";

fn toml() -> String {
    format!(
        r#"
[[organizations]]
slug = "acme"

[[organizations.applications]]
client_id = "native"
type = "public"
app_native = true
sign_in_flow = [["password"], ["sms_otp", "backup_code"]]
backup_codes = true
redirect_uris = ["{CB}"]

[[organizations.applications]]
client_id = "browser-only"
type = "public"
sign_in_flow = [["password"], ["sms_otp"]]
redirect_uris = ["{CB}"]

[[organizations.users]]
username = "bob"
password = "bobs-long-password"
phone_number = "+14155550123"
phone_number_verified = true
"#
    )
}

async fn setup(backend: &Backend) -> TestApp {
    let app = TestApp::spawn(backend).await;
    app.import(&toml());
    app
}

fn challenge() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

/// `POST {issuer}/authorize` with `response_mode=direct`.
async fn start(app: &TestApp, client_id: &str) -> (u16, Value) {
    start_with(app, client_id, &[]).await
}

/// [`start`] with further parameters.
pub async fn start_with(app: &TestApp, client_id: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let challenge = challenge();
    let mut form = vec![
        ("client_id", client_id),
        ("response_type", "code"),
        ("redirect_uri", CB),
        ("scope", "openid profile"),
        ("state", "native-state"),
        ("response_mode", "direct"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    form.extend_from_slice(extra);
    let res = app
        .client
        .post(format!("{}/authorize", app.issuer("acme")))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    assert_eq!(res.headers()["cache-control"], "no-store");
    (status, res.json().await.unwrap())
}

/// `POST {issuer}/authn` with one selected authenticator.
pub async fn step(
    app: &TestApp,
    flow_id: &Value,
    authenticator: &str,
    params: Value,
) -> (u16, Value) {
    let res = app
        .client
        .post(format!("{}/authn", app.issuer("acme")))
        .json(&json!({
            "flowId": flow_id,
            "selectedAuthenticator": { "authenticatorId": authenticator, "params": params },
        }))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

async fn password(app: &TestApp, flow_id: &Value, password: &str) -> (u16, Value) {
    let params = json!({ "username": "bob", "password": password });
    step(app, flow_id, "password", params).await
}

/// Exchanges the code with the PKCE verifier; returns the ID token's claims.
async fn exchange(app: &TestApp, code: &str) -> Value {
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CB),
            ("client_id", "native"),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    payload(body["id_token"].as_str().unwrap())
}

async fn password_then_sms_otp_to_tokens(backend: Backend) {
    let app = setup(&backend).await;
    let (status, first) = start(&app, "native").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["flowStatus"], "INCOMPLETE");
    assert_eq!(first["nextStep"]["kind"], "first");
    assert_eq!(
        first["nextStep"]["authenticators"],
        json!([{ "authenticatorId": "password", "params": ["username", "password"] }])
    );
    assert_eq!(
        first["links"][0]["href"],
        format!("{}/authn", app.issuer("acme"))
    );

    let (status, otp) = password(&app, &first["flowId"], "bobs-long-password").await;
    assert_eq!(status, 200, "{otp}");
    assert_eq!(otp["nextStep"]["kind"], "sms_otp");
    assert_eq!(otp["nextStep"]["sms_otp"]["masked_phone"], "*******0123");
    assert_eq!(otp["nextStep"]["sms_otp"]["sent"], true);
    assert_eq!(otp["nextStep"]["sms_otp"]["backup_code"], true);
    assert_ne!(otp["flowId"], first["flowId"], "a new flow id every step");
    assert_eq!(app.sms.sent().len(), 1, "the code was sent with the answer");

    let (status, done) = step(
        &app,
        &otp["flowId"],
        "sms_otp",
        json!({ "otp": last_code(&app) }),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["flowStatus"], "SUCCESS_COMPLETED");
    assert_eq!(done["authData"]["state"], "native-state");
    assert_eq!(done["authData"]["iss"], app.issuer("acme"));
    assert_eq!(done["amr"], json!(["pwd", "sms", "otp", "mfa"]));
    let claims = exchange(&app, done["authData"]["code"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], "native");
    assert_eq!(claims["acr"], "urn:sesame:acr:mfa");
    assert_eq!(claims["amr"], json!(["pwd", "sms", "otp", "mfa"]));
}

async fn a_backup_code_instead_of_the_sms_code(backend: Backend) {
    let app = setup(&backend).await;
    let out = app.cli(&["backup-codes", "--org", "acme", "--user", "bob"]);
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    let code = listing
        .lines()
        .skip(1)
        .map(str::trim)
        .find(|l| !l.is_empty())
        .expect("a backup code")
        .to_string();
    let (_, first) = start(&app, "native").await;
    let (_, otp) = password(&app, &first["flowId"], "bobs-long-password").await;
    // Choosing the fallback shows its step.
    let (status, backup) = step(&app, &otp["flowId"], "backup_code", json!({})).await;
    assert_eq!(status, 200, "{backup}");
    assert_eq!(backup["nextStep"]["kind"], "backup_code");
    let (status, done) = step(
        &app,
        &backup["flowId"],
        "backup_code",
        json!({ "code": code }),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["amr"], json!(["pwd", "otp", "mfa"]));
    let claims = exchange(&app, done["authData"]["code"].as_str().unwrap()).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
}

async fn a_wrong_code_says_how_many_tries_are_left(backend: Backend) {
    let app = setup(&backend).await;
    let (_, first) = start(&app, "native").await;
    let (_, otp) = password(&app, &first["flowId"], "bobs-long-password").await;
    let code = last_code(&app);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, again) = step(&app, &otp["flowId"], "sms_otp", json!({ "otp": wrong })).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["flowStatus"], "FAIL_INCOMPLETE");
    assert_eq!(again["nextStep"]["error"]["code"], "code_wrong");
    assert_eq!(again["nextStep"]["error"]["attempts_left"], 2);
    assert_eq!(
        again["nextStep"]["error"]["message"],
        "That code is not right. 2 attempts left."
    );
    // The right code still works on the new flow id.
    let (_, done) = step(&app, &again["flowId"], "sms_otp", json!({ "otp": code })).await;
    assert_eq!(done["flowStatus"], "SUCCESS_COMPLETED", "{done}");
}

async fn a_locked_account_is_refused(backend: Backend) {
    let app = setup(&backend).await;
    let (_, mut current) = start(&app, "native").await;
    for _ in 0..5 {
        let (status, again) = password(&app, &current["flowId"], "wrong-password").await;
        assert_eq!(status, 200);
        assert_eq!(again["nextStep"]["error"]["code"], "wrong_credentials");
        current = again;
    }
    let (status, locked) = password(&app, &current["flowId"], "bobs-long-password").await;
    assert_eq!(status, 403, "{locked}");
    assert_eq!(locked["code"], "locked");
    assert_eq!(locked["flowStatus"], "FAIL");
    assert!(locked["until"].as_i64().unwrap() > 0);
    assert!(
        locked["message"]
            .as_str()
            .unwrap()
            .starts_with("This account is locked")
    );
}

async fn a_flow_id_works_once(backend: Backend) {
    let app = setup(&backend).await;
    let (_, first) = start(&app, "native").await;
    let (status, _) = password(&app, &first["flowId"], "wrong-password").await;
    assert_eq!(status, 200);
    // The same flow id again: refused, and the step does not run.
    let (status, replay) = password(&app, &first["flowId"], "bobs-long-password").await;
    assert_eq!(status, 400, "{replay}");
    assert_eq!(replay["code"], "expired");
    assert!(app.sms.sent().is_empty(), "the replay passed no step");
    // A made-up or malformed flow id, and a body that is not a step.
    let (status, bogus) = password(&app, &json!("not-a-flow"), "x").await;
    assert_eq!((status, bogus["code"].as_str()), (400, Some("expired")));
    let res = app
        .client
        .post(format!("{}/authn", app.issuer("acme")))
        .json(&json!({ "flowId": first["flowId"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request");
}

async fn only_app_native_applications_may_use_it(backend: Backend) {
    let app = setup(&backend).await;
    let (status, body) = start(&app, "browser-only").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "unauthorized_client");
    // A public app_native client still needs PKCE.
    let res = app
        .client
        .post(format!("{}/authorize", app.issuer("acme")))
        .form(&[
            ("client_id", "native"),
            ("response_type", "code"),
            ("redirect_uri", CB),
            ("scope", "openid"),
            ("response_mode", "direct"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request");
    assert!(body["message"].as_str().unwrap().contains("PKCE"), "{body}");
    // The redirect-based flow is unchanged for the same client.
    let res = app
        .client
        .get(format!(
            "{}/authorize?client_id=native&response_type=code&scope=openid&redirect_uri={}&code_challenge={}&code_challenge_method=S256",
            app.issuer("acme"),
            urlencode(CB),
            challenge()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
}

/// The API's sign-ins and the pages' sign-ins are bound in separate spaces: a flow secret does
/// not pass for a browser's cookie, and a browser's cookie does not open a sign-in through the
/// API (which would skip the pages' consent and steps).
async fn the_api_and_the_pages_do_not_share_sign_ins(backend: Backend) {
    let app = setup(&backend).await;
    let (_, first) = start(&app, "native").await;
    let flow = first["flowId"].as_str().unwrap();
    let (tx, secret) = flow.split_once('.').unwrap();
    let res = app
        .client
        .get(format!("{}/login?tx={tx}", app.issuer("acme")))
        .header("Cookie", format!("sesame_browser={secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "a flow secret is no browser cookie");
    // A browser sign-in of the same client, driven through the API with its cookie.
    let res = app
        .client
        .get(format!(
            "{}/authorize?client_id=native&response_type=code&scope=openid&redirect_uri={}&code_challenge={}&code_challenge_method=S256",
            app.issuer("acme"),
            urlencode(CB),
            challenge()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("sesame_browser="))
        .map(|c| c.split(';').next().unwrap().to_string())
        .expect("a browser cookie");
    let location = res.headers()["location"].to_str().unwrap().to_string();
    let browser_tx = location.split("tx=").nth(1).unwrap().to_string();
    let (status, body) = password(
        &app,
        &json!(format!("{browser_tx}.{cookie}")),
        "bobs-long-password",
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("expired")),
        "{body}"
    );
}

/// An `id_token_hint` must be an ID token of this issuer for this client, as on the pages.
async fn an_id_token_hint_is_checked(backend: Backend) {
    let app = setup(&backend).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let hint = app
        .sign_id_token("acme", "someone-else", "native", now)
        .await;
    let (status, body) = start_with(&app, "native", &[("id_token_hint", &hint)]).await;
    assert_eq!(status, 200, "a valid hint: {body}");

    let other_client = app
        .sign_id_token("acme", "someone-else", "browser-only", now)
        .await;
    let (status, body) = start_with(&app, "native", &[("id_token_hint", &other_client)]).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], "invalid_request", "{body}");
}

/// A call the step cannot take (another authenticator, a parameter of the wrong type) is
/// refused without spending the flow id; two calls at once with one flow id run one step.
async fn bad_calls_keep_the_flow_and_concurrent_ones_run_once(backend: Backend) {
    let app = setup(&backend).await;
    let (_, first) = start(&app, "native").await;
    let (status, body) = step(
        &app,
        &first["flowId"],
        "sms_otp",
        json!({ "otp": "123456" }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_request");
    assert!(
        body["message"].as_str().unwrap().contains("not offered"),
        "{body}"
    );
    let (status, body) = step(
        &app,
        &first["flowId"],
        "password",
        json!({ "username": "bob", "password": 1234 }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("must be a string"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("1234"),
        "the body is not quoted back"
    );

    // The same flow id twice at once: one step runs, the other is refused.
    let (a, b) = tokio::join!(
        password(&app, &first["flowId"], "bobs-long-password"),
        password(&app, &first["flowId"], "bobs-long-password"),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 400], "{a:?} {b:?}");
    assert_eq!(app.sms.sent().len(), 1, "one SMS step started");
}

/// The JSON API offers the password, SMS OTP and backup codes only: an app_native application
/// whose first step has no password is refused at import.
async fn app_native_needs_the_password_first(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let file = format!(
        r#"
[[organizations]]
slug = "acme"
[[organizations.applications]]
client_id = "linky"
type = "public"
app_native = true
sign_in_flow = [["magic_link"], ["sms_otp"]]
redirect_uris = ["{CB}"]
"#
    );
    let path = app.write_file("native.toml", &file);
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("app_native") && err.contains("password"),
        "{err}"
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

both_backends!(
    password_then_sms_otp_to_tokens,
    a_backup_code_instead_of_the_sms_code,
    a_wrong_code_says_how_many_tries_are_left,
    a_locked_account_is_refused,
    a_flow_id_works_once,
    only_app_native_applications_may_use_it,
    the_api_and_the_pages_do_not_share_sign_ins,
    an_id_token_hint_is_checked,
    bad_calls_keep_the_flow_and_concurrent_ones_run_once,
    app_native_needs_the_password_first,
);
