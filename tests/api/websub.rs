//! The WebSub hub against a real subscriber on loopback: intent verification accepted and
//! refused, signed deliveries (and a tampered body failing), a receiver down for a while, secret
//! rotation, unsubscribing, and the hub's authentication.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, TestDb, location, test_env, wait_for};
use crate::sms_otp::{BOB_PASSWORD, MFA_CB, code_at, get, password_step, submit};

const SECRET: &str = "a-subscriber-secret-0123456789";

/// A delivery the subscriber received.
#[derive(Debug, Clone)]
struct Delivery {
    headers: HashMap<String, String>,
    body: String,
}

/// A WebSub subscriber: answers intent verifications (echoing the challenge unless told to
/// refuse), records deliveries, and can be down (503).
#[derive(Clone, Default)]
pub struct Subscriber {
    verifications: Arc<Mutex<Vec<HashMap<String, String>>>>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    refuse: Arc<AtomicBool>,
    pub down: Arc<AtomicBool>,
    pub delay_ms: Arc<std::sync::atomic::AtomicU64>,
    serial: Arc<tokio::sync::Mutex<()>>,
}

impl Subscriber {
    pub async fn start() -> (Self, String) {
        let sub = Self::default();
        let s = sub.clone();
        let server = HttpServer::new(move || {
            let s = s.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let s = s.clone();
                async move {
                    if req.method() == actix_web::http::Method::GET {
                        let query: HashMap<String, String> =
                            url::form_urlencoded::parse(req.query_string().as_bytes())
                                .into_owned()
                                .collect();
                        s.verifications.lock().unwrap().push(query.clone());
                        if s.refuse.load(Ordering::SeqCst) {
                            return HttpResponse::NotFound().body("no such subscription");
                        }
                        return HttpResponse::Ok()
                            .body(query.get("hub.challenge").cloned().unwrap_or_default());
                    }
                    // A slow subscriber takes one delivery at a time.
                    let _one_at_a_time = s.serial.lock().await;
                    let delay = s.delay_ms.load(Ordering::SeqCst);
                    if delay > 0 {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    if s.down.load(Ordering::SeqCst) {
                        return HttpResponse::ServiceUnavailable().finish();
                    }
                    s.deliveries.lock().unwrap().push(Delivery {
                        headers: req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                            .collect(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    HttpResponse::NoContent().finish()
                }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        (sub, format!("http://127.0.0.1:{port}/hook"))
    }

    /// The event ids delivered, duplicates included.
    pub fn event_ids(&self) -> Vec<String> {
        self.deliveries()
            .iter()
            .map(|d| d.headers["x-sesame-event-id"].clone())
            .collect()
    }

    /// The bodies delivered, duplicates included.
    pub fn bodies(&self) -> Vec<String> {
        self.deliveries().into_iter().map(|d| d.body).collect()
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }

    pub fn verifications(&self) -> Vec<HashMap<String, String>> {
        self.verifications.lock().unwrap().clone()
    }
}

pub fn hmac_hex(key: &[u8], data: &[u8]) -> String {
    let pkey = PKey::hmac(key).unwrap();
    let mut signer = Signer::new(MessageDigest::sha256(), &pkey).unwrap();
    signer.update(data).unwrap();
    signer
        .sign_to_vec()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a receiver checks: the WebSub signature over the body, and ours over timestamp + body.
fn signed_with(d: &Delivery, secret: &str) -> bool {
    let hub = d
        .headers
        .get("x-hub-signature")
        .cloned()
        .unwrap_or_default();
    let ours = d
        .headers
        .get("x-sesame-signature")
        .cloned()
        .unwrap_or_default();
    let t = ours
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap_or("");
    let stamped = hmac_hex(secret.as_bytes(), format!("{t}.{}", d.body).as_bytes());
    hub == format!("sha256={}", hmac_hex(secret.as_bytes(), d.body.as_bytes()))
        && ours.split(',').any(|p| p == format!("sha256={stamped}"))
}

async fn spawn(backend: &Backend, sms_channel: &str) -> TestApp {
    let db = TestDb::new(backend);
    let mut env = test_env(&db.url, db.dir.path());
    env.insert("SESAME_OUTBOUND_ALLOW_PRIVATE".into(), "true".into());
    let app = TestApp::spawn_with(db, env).await;
    let toml = crate::sms_otp::acme_toml("resend_cooldown_seconds = 0", "max_attempts = 20")
        .replace(
            "[organizations.lock_policy]",
            &format!(
                "[organizations.sms]\nchannel = \"{sms_channel}\"\n[organizations.lock_policy]"
            ),
        );
    app.import(&format!(
        "{toml}\n[[organizations.applications]]\nclient_id = \"hub-admin\"\ntype = \"confidential\"\nclient_secret = \"a-hub-admin-secret-of-forty-characters!!\"\ngrant_types = [\"client_credentials\"]\nwebsub_subscribe = true\n"
    ));
    app
}

async fn hub_token(app: &TestApp) -> String {
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth(
            "hub-admin",
            Some("a-hub-admin-secret-of-forty-characters!!"),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "websub:subscribe"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

fn topic(app: &TestApp, name: &str) -> String {
    format!("{}/websubhub/topics/acme/{name}", app.address)
}

async fn hub(app: &TestApp, token: Option<&str>, form: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app
        .client
        .post(format!("{}/websubhub", app.address))
        .form(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn subscribe(app: &TestApp, token: &str, topic: &str, callback: &str, secret: &str) {
    let res = hub(
        app,
        Some(token),
        &[
            ("hub.mode", "subscribe"),
            ("hub.topic", topic),
            ("hub.callback", callback),
            ("hub.secret", secret),
            ("hub.lease_seconds", "86400"),
        ],
    )
    .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
}

async fn subscribers_get_signed_sms_otp_and_login_events(backend: Backend) {
    let app = spawn(&backend, "webhook").await;
    let token = hub_token(&app).await;
    let (notifications, callback) = Subscriber::start().await;
    let (logins, login_callback) = Subscriber::start().await;
    subscribe(
        &app,
        &token,
        &topic(&app, "NOTIFICATIONS"),
        &callback,
        SECRET,
    )
    .await;
    subscribe(&app, &token, "acme-LOGINS", &login_callback, SECRET).await;
    wait_for("both verifications", || {
        notifications.verifications().len() == 1 && logins.verifications().len() == 1
    })
    .await;
    let v = &notifications.verifications()[0];
    assert_eq!(v["hub.mode"], "subscribe");
    assert_eq!(v["hub.topic"], topic(&app, "NOTIFICATIONS"));
    assert_eq!(v["hub.lease_seconds"], "86400");
    // Let the confirmations be recorded.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // In webhook mode the subscriber, not a gateway, gets the code to send.
    let browser = Browser::default();
    let res = password_step(&app, &browser, "mfa-web", "bob", BOB_PASSWORD).await;
    let otp_url = location(&res);
    let (status, _) = get(&browser, &otp_url).await;
    assert_eq!(status, 200);
    assert!(app.sms.sent().is_empty(), "no gateway sent it");
    wait_for("the SMS OTP event", || {
        !notifications.deliveries().is_empty()
    })
    .await;
    let d = notifications.deliveries()[0].clone();
    assert!(signed_with(&d, SECRET), "{:?}", d.headers);
    let mut tampered = d.clone();
    tampered.body = tampered.body.replace("+447400900123", "+447400900999");
    assert!(!signed_with(&tampered, SECRET), "a tampered body fails");
    assert!(!signed_with(&d, "another-secret-0123456789"));
    assert!(d.headers["link"].contains(&format!("<{}/websubhub>; rel=\"hub\"", app.address)));
    assert!(
        d.headers["link"].contains(&format!("<{}>; rel=\"self\"", topic(&app, "NOTIFICATIONS")))
    );
    let t: i64 = d.headers["x-sesame-signature"]
        .split(',')
        .find_map(|p| p.strip_prefix("t="))
        .unwrap()
        .parse()
        .unwrap();
    assert!((sesame::store::now() - t).abs() < 60, "a fresh timestamp");
    let event: Value = serde_json::from_str(&d.body).unwrap();
    assert_eq!(event["aud"], topic(&app, "NOTIFICATIONS"));
    assert_eq!(event["iss"], app.issuer("acme"));
    let data = &event["event"]["urn:ietf:params:notifications:smsOtp"];
    assert_eq!(data["sendTo"], "+447400900123");
    assert_eq!(data["organizationName"], "Acme Corp");
    let body = data["messageBody"].as_str().unwrap();
    let start = body.find(" is ").unwrap() + 4;
    let code = body[start..].split('.').next().unwrap();
    let res = submit(&browser, &otp_url, &[("code", code)]).await;
    code_at(&res, MFA_CB);

    wait_for("loginSuccess", || {
        logins
            .deliveries()
            .iter()
            .any(|d| d.body.contains("urn:ietf:params:logins:loginSuccess"))
    })
    .await;
    let success = logins
        .deliveries()
        .into_iter()
        .find(|d| d.body.contains("loginSuccess"))
        .unwrap();
    assert!(signed_with(&success, SECRET));
    let event: Value = serde_json::from_str(&success.body).unwrap();
    let data = &event["event"]["urn:ietf:params:logins:loginSuccess"];
    assert_eq!(data["username"], "bob");
    assert_eq!(data["clientId"], "mfa-web");
    assert_eq!(data["acr"], "urn:sesame:acr:mfa");
    assert_eq!(notifications.deliveries().len(), 1, "once");

    // A wrong password: loginFailed.
    let res = password_step(
        &app,
        &Browser::default(),
        "mfa-web",
        "bob",
        "not-the-password",
    )
    .await;
    assert_eq!(res.status(), 200);
    wait_for("loginFailed", || {
        logins
            .deliveries()
            .iter()
            .any(|d| d.body.contains("urn:ietf:params:logins:loginFailed"))
    })
    .await;
}

async fn a_subscriber_that_does_not_confirm_gets_nothing(backend: Backend) {
    let app = spawn(&backend, "webhook").await;
    let token = hub_token(&app).await;
    let (sub, callback) = Subscriber::start().await;
    sub.refuse.store(true, Ordering::SeqCst);
    subscribe(
        &app,
        &token,
        &topic(&app, "NOTIFICATIONS"),
        &callback,
        SECRET,
    )
    .await;
    wait_for("the denial notice", || {
        sub.verifications()
            .iter()
            .any(|v| v.get("hub.mode").map(String::as_str) == Some("denied"))
    })
    .await;
    let browser = Browser::default();
    let res = password_step(&app, &browser, "mfa-web", "bob", BOB_PASSWORD).await;
    let (status, html) = get(&browser, &location(&res)).await;
    assert_eq!(status, 422, "no subscriber to send the code");
    assert!(html.contains("could not send the code"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(sub.deliveries().is_empty());
}

async fn a_receiver_down_for_a_while_gets_every_event(backend: Backend) {
    let app = spawn(&backend, "console").await;
    let token = hub_token(&app).await;
    let (sub, callback) = Subscriber::start().await;
    subscribe(
        &app,
        &token,
        &topic(&app, "USER_OPERATIONS"),
        &callback,
        SECRET,
    )
    .await;
    wait_for("the verification", || sub.verifications().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sub.down.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        let out = app.cli(&["backup-codes", "--org", "acme", "--user", "bob"]);
        assert!(out.status.success());
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sub.deliveries().is_empty());
    sub.down.store(false, Ordering::SeqCst);
    wait_for("every event", || sub.deliveries().len() >= 4).await;
    let ids: std::collections::HashSet<String> = sub
        .deliveries()
        .iter()
        .map(|d| d.headers["x-sesame-event-id"].clone())
        .collect();
    assert_eq!(ids.len(), 4);
    assert!(sub.deliveries().iter().all(|d| signed_with(d, SECRET)));
}

async fn secrets_rotate_with_an_overlap_and_unsubscribing_stops_deliveries(backend: Backend) {
    let app = spawn(&backend, "console").await;
    let token = hub_token(&app).await;
    let (sub, callback) = Subscriber::start().await;
    let topic = topic(&app, "USER_OPERATIONS");
    subscribe(&app, &token, &topic, &callback, SECRET).await;
    wait_for("the verification", || sub.verifications().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let new_secret = "the-rotated-secret-0123456789";
    subscribe(&app, &token, &topic, &callback, new_secret).await;
    wait_for("the second verification", || sub.verifications().len() == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.cli(&["backup-codes", "--org", "acme", "--user", "bob"]);
    wait_for("the delivery", || sub.deliveries().len() == 1).await;
    let d = &sub.deliveries()[0];
    assert!(signed_with(d, new_secret), "the new secret signs");
    let old = hmac_hex(
        SECRET.as_bytes(),
        format!(
            "{}.{}",
            d.headers["x-sesame-signature"]
                .split(',')
                .find_map(|p| p.strip_prefix("t="))
                .unwrap(),
            d.body
        )
        .as_bytes(),
    );
    assert!(
        d.headers["x-sesame-signature"].contains(&format!("sha256={old}")),
        "the old secret signs too during the overlap"
    );

    let res = hub(
        &app,
        Some(&token),
        &[
            ("hub.mode", "unsubscribe"),
            ("hub.topic", &topic),
            ("hub.callback", &callback),
        ],
    )
    .await;
    assert_eq!(res.status(), 202);
    wait_for("the unsubscribe verification", || {
        sub.verifications().len() == 3
    })
    .await;
    assert_eq!(sub.verifications()[2]["hub.mode"], "unsubscribe");
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.cli(&["backup-codes", "--org", "acme", "--user", "bob"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(sub.deliveries().len(), 1, "nothing after unsubscribing");
}

async fn the_hub_checks_who_asks_and_what(backend: Backend) {
    let app = spawn(&backend, "console").await;
    let token = hub_token(&app).await;
    let t = topic(&app, "NOTIFICATIONS");
    let form = |callback: &'static str, secret: &'static str| {
        vec![
            ("hub.mode", "subscribe"),
            ("hub.topic", t.as_str()),
            ("hub.callback", callback),
            ("hub.secret", secret),
        ]
    };
    let res = hub(&app, None, &form("http://127.0.0.1:9/hook", SECRET)).await;
    assert_eq!(res.status(), 401);
    let res = hub(
        &app,
        Some("not-a-token"),
        &form("http://127.0.0.1:9/hook", SECRET),
    )
    .await;
    assert_eq!(res.status(), 403);
    let res = hub(&app, Some(&token), &form("ftp://127.0.0.1/hook", SECRET)).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("hub.callback"));
    let res = hub(
        &app,
        Some(&token),
        &form("http://127.0.0.1:9/hook", "short"),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("hub.secret"));
    let mut other_topic = form("http://127.0.0.1:9/hook", SECRET);
    other_topic[1].1 = "acme-SECRETS";
    let res = hub(&app, Some(&token), &other_topic).await;
    assert_eq!(res.status(), 400);
    // Another organization's topic with acme's token: refused.
    let mut default_topic = form("http://127.0.0.1:9/hook", SECRET);
    default_topic[1].1 = "default-NOTIFICATIONS";
    let res = hub(&app, Some(&token), &default_topic).await;
    assert_eq!(res.status(), 403);
    // Only applications allowed it get websub:subscribe.
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("mfa-web", Some(crate::sms_otp::SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "websub:subscribe"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

both_backends!(
    subscribers_get_signed_sms_otp_and_login_events,
    a_subscriber_that_does_not_confirm_gets_nothing,
    a_receiver_down_for_a_while_gets_every_event,
    secrets_rotate_with_an_overlap_and_unsubscribing_stops_deliveries,
    the_hub_checks_who_asks_and_what,
);

#[path = "../../examples/webhook_receiver/receiver.rs"]
mod receiver;

/// The guide's whole path: Sesame publishes the SMS OTP event, the example receiver verifies it
/// and forwards it to an SMS API, and the user types the code that API got.
async fn the_example_receiver_sends_the_code_through_an_sms_api(backend: Backend) {
    let app = spawn(&backend, "webhook").await;
    let token = hub_token(&app).await;
    let (sms_api, sms_url) = crate::gateways::Provider::start().await;
    let topic = topic(&app, "NOTIFICATIONS");
    let (server, addr) = receiver::serve(
        receiver::Receiver::new(SECRET, &topic, &format!("{sms_url}/send")),
        "127.0.0.1:0",
    )
    .unwrap();
    tokio::spawn(server);
    subscribe(&app, &token, &topic, &format!("http://{addr}/hook"), SECRET).await;
    // Wait for the subscription to be active (the receiver confirms on its own).
    wait_for("the subscription", || {
        let mut conn = app.db.get().unwrap();
        use diesel::prelude::*;
        use sesame::store::schema::subscriptions::dsl::*;
        subscriptions
            .select(state)
            .first::<String>(&mut conn)
            .is_ok_and(|s| s == "active")
    })
    .await;
    let browser = Browser::default();
    let res = password_step(&app, &browser, "mfa-web", "bob", BOB_PASSWORD).await;
    let otp_url = location(&res);
    let (status, _) = get(&browser, &otp_url).await;
    assert_eq!(status, 200);
    wait_for("the SMS API call", || !sms_api.accepted().is_empty()).await;
    let body: Value = serde_json::from_str(&sms_api.last_body()).unwrap();
    assert_eq!(body["to"], "+447400900123");
    let text = body["text"].as_str().unwrap();
    let start = text.find(" is ").unwrap() + 4;
    let code = text[start..].split('.').next().unwrap();
    let res = submit(&browser, &otp_url, &[("code", code)]).await;
    code_at(&res, MFA_CB);
}

both_backends!(the_example_receiver_sends_the_code_through_an_sms_api);

async fn an_administrator_declares_subscriptions_in_the_provisioning_file(backend: Backend) {
    let app = spawn(&backend, "console").await;
    let (sub, callback) = Subscriber::start().await;
    let secret_file = app.write_file("hook-secret", SECRET);
    let file = format!(
        "[[organizations]]\nslug = \"acme\"\ndisplay_name = \"Acme Corp\"\n[[organizations.webhooks]]\ntopic = \"USER_OPERATIONS\"\ncallback = \"{callback}\"\nsecret = {{ file = \"{}\" }}\n",
        secret_file.display()
    );
    let out = app.import(&file);
    assert!(
        out.contains("created   webhook acme/USER_OPERATIONS"),
        "{out}"
    );
    wait_for("the verification", || sub.verifications().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.cli(&["backup-codes", "--org", "acme", "--user", "bob"]);
    wait_for("the delivery", || sub.deliveries().len() == 1).await;
    assert!(signed_with(&sub.deliveries()[0], SECRET));
    let again = app.import(&file);
    assert!(!again.contains("webhook"), "unchanged: {again}");
    let bad = file.replace("USER_OPERATIONS", "EVERYTHING");
    let path = app.write_file("bad.toml", &bad);
    let err = crate::helpers::stderr(&app.cli(&["import", path.to_str().unwrap()]));
    assert!(
        err.contains("webhooks[0]") && err.contains("topic"),
        "{err}"
    );
}

both_backends!(an_administrator_declares_subscriptions_in_the_provisioning_file);

async fn locks_and_their_end_are_published(backend: Backend) {
    let db = TestDb::new(&backend);
    let mut env = test_env(&db.url, db.dir.path());
    env.insert("SESAME_OUTBOUND_ALLOW_PRIVATE".into(), "true".into());
    let app = TestApp::spawn_with(db, env).await;
    app.import(&format!(
        "{}\n[[organizations.applications]]\nclient_id = \"hub-admin\"\ntype = \"confidential\"\nclient_secret = \"a-hub-admin-secret-of-forty-characters!!\"\ngrant_types = [\"client_credentials\"]\nwebsub_subscribe = true\n",
        crate::sms_otp::acme_toml("", "max_attempts = 2\nduration_seconds = 1")
    ));
    let token = hub_token(&app).await;
    let (sub, callback) = Subscriber::start().await;
    subscribe(
        &app,
        &token,
        &topic(&app, "USER_OPERATIONS"),
        &callback,
        SECRET,
    )
    .await;
    wait_for("the verification", || sub.verifications().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..2 {
        password_step(
            &app,
            &Browser::default(),
            "pwd-web",
            "bob",
            "wrong-password!",
        )
        .await;
    }
    wait_for("lockUser", || {
        sub.deliveries()
            .iter()
            .any(|d| d.body.contains("urn:ietf:params:user-operations:lockUser"))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let res = password_step(&app, &Browser::default(), "pwd-web", "bob", BOB_PASSWORD).await;
    assert_eq!(res.status(), 303);
    wait_for("unlockUser", || {
        sub.deliveries().iter().any(|d| {
            d.body
                .contains("urn:ietf:params:user-operations:unlockUser")
        })
    })
    .await;
    let unlock = sub
        .deliveries()
        .into_iter()
        .find(|d| d.body.contains("unlockUser"))
        .unwrap();
    let event: Value = serde_json::from_str(&unlock.body).unwrap();
    let data = &event["event"]["urn:ietf:params:user-operations:unlockUser"];
    assert_eq!(data["username"], "bob");
    assert!(data["lockedUntil"].as_i64().is_some());
}

both_backends!(locks_and_their_end_are_published);
