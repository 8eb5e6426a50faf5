//! SMS gateway plugins against real HTTP servers on loopback standing in for the providers:
//! the requests they send, 4xx against 5xx, and failover to the next gateway.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, TestDb, location, stderr, test_env};
use crate::sms_otp::{BOB_PASSWORD, MFA_CB, code_at, get, submit};

/// One request a fake provider received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// A provider on loopback: records requests and answers from a queue (200 `{}` when empty), or
/// 503 to everything while down; can answer slowly.
#[derive(Clone, Default)]
pub struct Provider {
    received: Arc<Mutex<Vec<Received>>>,
    answers: Arc<Mutex<VecDeque<(u16, String)>>>,
    down: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
    /// The `Idempotency-Key` of every message answered with success, duplicates included.
    accepted: Arc<Mutex<Vec<String>>>,
}

impl Provider {
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub fn set_delay_ms(&self, ms: u64) {
        self.delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn accepted(&self) -> Vec<String> {
        self.accepted.lock().unwrap().clone()
    }

    pub fn last_body(&self) -> String {
        self.received
            .lock()
            .unwrap()
            .last()
            .map(|r| r.body.clone())
            .unwrap_or_default()
    }

    pub async fn start() -> (Self, String) {
        let provider = Self::default();
        let p = provider.clone();
        let server = HttpServer::new(move || {
            let p = p.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let p = p.clone();
                async move {
                    let delay = p.delay_ms.load(Ordering::SeqCst);
                    if delay > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                    }
                    if p.down.load(Ordering::SeqCst) {
                        return HttpResponse::ServiceUnavailable().body("down");
                    }
                    p.received.lock().unwrap().push(Received {
                        path: req.path().to_string(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                            .collect(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let (status, body) = p
                        .answers
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or((200, "{}".into()));
                    if (200..300).contains(&status)
                        && let Some(key) = req.headers().get("idempotency-key")
                    {
                        p.accepted
                            .lock()
                            .unwrap()
                            .push(key.to_str().unwrap_or("").to_string());
                    }
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .content_type("application/json")
                        .body(body)
                }
            }))
        })
        .workers(2)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        (provider, format!("http://127.0.0.1:{port}"))
    }

    pub fn answer(&self, status: u16, body: &str) {
        self.answers
            .lock()
            .unwrap()
            .push_back((status, body.to_string()));
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

const SID: &str = "AC0123456789abcdef0123456789abcdef";

/// acme (from the SMS OTP tests) with `[organizations.sms]` set to `sms` (TOML lines).
pub fn with_sms(app: &TestApp, sms: &str) -> String {
    let token = app.write_file("twilio-token", "twilio-auth-token\n");
    let bearer = app.write_file("http-token", "http-bearer-token");
    crate::sms_otp::acme_toml("resend_cooldown_seconds = 0", "max_attempts = 20").replace(
        "[organizations.lock_policy]",
        &format!(
            "{}\n[organizations.lock_policy]",
            sms.replace("TOKEN_FILE", token.to_str().unwrap())
                .replace("BEARER_FILE", bearer.to_str().unwrap())
        ),
    )
}

pub async fn spawn(backend: &Backend) -> TestApp {
    let db = TestDb::new(backend);
    let mut env = test_env(&db.url, db.dir.path());
    // The providers are on loopback: allowed in tests only.
    env.insert("SESAME_OUTBOUND_ALLOW_PRIVATE".into(), "true".into());
    TestApp::spawn_with(db, env).await
}

pub fn twilio(base: &str) -> String {
    format!(
        r#"[[organizations.sms.gateways]]
type = "twilio"
account_sid = "{SID}"
auth_token = {{ file = "TOKEN_FILE" }}
from = "+15005550006"
base_url = "{base}"
"#
    )
}

pub fn http(base: &str) -> String {
    format!(
        r#"[[organizations.sms.gateways]]
type = "http"
url = "{base}/v1/messages"
body_template = '{{"to":"{{to}}","text":"{{message}}","from":"{{sender}}"}}'
sender_id = "Acme"
auth = {{ bearer = {{ token = {{ file = "BEARER_FILE" }} }} }}
idempotency_header = "Idempotency-Key"
message_id_pointer = "/id"
"#
    )
}

/// Password step for bob at mfa-web, then the OTP page (which sends the first code).
pub async fn otp_page(app: &TestApp, browser: &Browser) -> (String, u16, String) {
    let res = crate::sms_otp::password_step(app, browser, "mfa-web", "bob", BOB_PASSWORD).await;
    let otp_url = location(&res);
    let (status, html) = get(browser, &otp_url).await;
    (otp_url, status, html)
}

pub fn code_in(text: &str) -> String {
    let start = text.find(" is ").expect("the default template") + 4;
    text[start..].split('.').next().unwrap().to_string()
}

async fn twilio_gets_the_messages_api_request(backend: Backend) {
    let (provider, base) = Provider::start().await;
    let app = spawn(&backend).await;
    app.import(&with_sms(
        &app,
        &format!(
            "[organizations.sms]\nchannel = \"gateways\"\n{}",
            twilio(&base)
        ),
    ));
    provider.answer(201, r#"{"sid": "SM0123", "status": "queued"}"#);
    let browser = Browser::default();
    let (otp_url, status, _) = otp_page(&app, &browser).await;
    assert_eq!(status, 200);
    let got = provider.received();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:twilio-auth-token"));
    assert_eq!(req.headers["authorization"], format!("Basic {basic}"));
    assert!(req.headers["content-type"].starts_with("application/x-www-form-urlencoded"));
    let form: HashMap<String, String> = url::form_urlencoded::parse(req.body.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(form["To"], "+447400900123");
    assert_eq!(form["From"], "+15005550006");
    assert!(
        app.sms.sent().is_empty(),
        "nothing went to the console channel"
    );
    let res = submit(&browser, &otp_url, &[("code", &code_in(&form["Body"]))]).await;
    code_at(&res, MFA_CB);
}

async fn a_retryable_failure_moves_on_to_the_next_gateway(backend: Backend) {
    let (first, base1) = Provider::start().await;
    let (second, base2) = Provider::start().await;
    let app = spawn(&backend).await;
    app.import(&with_sms(
        &app,
        &format!(
            "[organizations.sms]\nchannel = \"gateways\"\n{}{}",
            twilio(&base1),
            http(&base2)
        ),
    ));
    // Twilio down (503): the HTTP gateway sends.
    first.answer(
        503,
        r#"{"code": 20500, "message": "Internal Server Error"}"#,
    );
    second.answer(200, r#"{"id": "msg-1"}"#);
    let browser = Browser::default();
    let (otp_url, status, html) = otp_page(&app, &browser).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(first.received().len(), 1);
    let got = second.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].path, "/v1/messages");
    assert_eq!(got[0].headers["authorization"], "Bearer http-bearer-token");
    assert!(!got[0].headers["idempotency-key"].is_empty());
    let body: serde_json::Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["to"], "+447400900123");
    assert_eq!(body["from"], "Acme");
    let res = submit(
        &browser,
        &otp_url,
        &[("code", &code_in(body["text"].as_str().unwrap()))],
    )
    .await;
    code_at(&res, MFA_CB);

    // A permanent rejection (400: a bad number) stops there: the next gateway would refuse too.
    first.answer(
        400,
        r#"{"code": 21211, "message": "The 'To' number is not valid."}"#,
    );
    let browser = Browser::default();
    let (_, status, html) = otp_page(&app, &browser).await;
    assert_eq!(status, 422);
    assert!(html.contains("could not send the code"), "{html}");
    assert_eq!(
        second.received().len(),
        1,
        "no failover after a permanent error"
    );

    // Both down: the page says so, and a resend later goes through.
    first.answer(500, "{}");
    second.answer(502, "bad gateway");
    let browser = Browser::default();
    let (otp_url, status, _) = otp_page(&app, &browser).await;
    assert_eq!(status, 422);
    let res = submit(&browser, &otp_url, &[("action", "resend")]).await;
    assert!(res.text().await.unwrap().contains("We sent a new code"));
}

async fn gateway_settings_are_checked_at_import(backend: Backend) {
    let app = spawn(&backend).await;
    let bad = with_sms(
        &app,
        &format!(
            "[organizations.sms]\nchannel = \"gateways\"\n{}",
            twilio("http://127.0.0.1:9")
        ),
    )
    .replace(
        app.test_db
            .dir
            .path()
            .join("twilio-token")
            .to_str()
            .unwrap(),
        "/nonexistent/token",
    );
    let path = app.write_file("bad.toml", &bad);
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("sms")
            && err.contains("gateways[0]: auth_token")
            && err.contains("cannot read"),
        "{err}"
    );
    let empty = with_sms(
        &app,
        "[organizations.sms]\nchannel = \"gateways\"\ngateways = []\n",
    );
    let path = app.write_file("empty.toml", &empty);
    let err = stderr(&app.cli(&["import", path.to_str().unwrap()]));
    assert!(err.contains("at least one gateway"), "{err}");
}

both_backends!(
    twilio_gets_the_messages_api_request,
    a_retryable_failure_moves_on_to_the_next_gateway,
    gateway_settings_are_checked_at_import,
);

async fn an_http_gateway_rejection_is_not_retried(backend: Backend) {
    let (provider, base) = Provider::start().await;
    let app = spawn(&backend).await;
    app.import(&with_sms(
        &app,
        &format!(
            "[organizations.sms]\nchannel = \"gateways\"\n{}",
            http(&base)
        ),
    ));
    // 422: the provider refuses the message itself; retrying would not help.
    provider.answer(422, r#"{"error": "invalid number"}"#);
    let browser = Browser::default();
    let (_, status, html) = otp_page(&app, &browser).await;
    assert_eq!(status, 422);
    assert!(
        html.contains("could not send the code to this number"),
        "{html}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(provider.received().len(), 1, "no retry after a 4xx");
    // 503 then fine: the worker retries and the message arrives.
    provider.answer(503, "busy");
    let browser = Browser::default();
    let (_, status, html) = otp_page(&app, &browser).await;
    assert_eq!(status, 422);
    assert!(html.contains("keep trying"), "{html}");
    for _ in 0..80 {
        if provider.received().len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(provider.received().len(), 3, "retried after a 5xx");
}

/// A gateway whose URL carries the number: when it fails, its error (in the
/// log and in `events list`) names the URL template, never the number or the code.
async fn a_failing_gateway_url_never_shows_the_number_or_the_code(backend: Backend) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let app = spawn(&backend).await;
    app.import(&with_sms(
        &app,
        &format!(
            "[organizations.sms]\nchannel = \"gateways\"\n[[organizations.sms.gateways]]\n\
             type = \"http\"\nurl = \"http://127.0.0.1:{port}/send?to={{to}}\"\n\
             body_template = \"{{message}}\"\nsender_id = \"Acme\"\n"
        ),
    ));
    let browser = Browser::default();
    let (_, status, html) = otp_page(&app, &browser).await;
    assert_eq!(status, 422, "{html}");
    let out = app.cli(&["events", "list", "--org", "acme"]);
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listing.contains(&format!(
            "request to http://127.0.0.1:{port}/send?to={{to}} failed"
        )),
        "{listing}"
    );
    for secret in ["447400900123", "%2B44"] {
        assert!(!listing.contains(secret), "{secret} in {listing}");
    }
}

both_backends!(
    an_http_gateway_rejection_is_not_retried,
    a_failing_gateway_url_never_shows_the_number_or_the_code,
);
