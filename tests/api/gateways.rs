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
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: String,
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

    fn answer(&self, status: u16, body: &str) {
        self.answers
            .lock()
            .unwrap()
            .push_back((status, body.to_string()));
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

const SID: &str = "AC0123456789abcdef0123456789abcdef";

/// acme (from the SMS OTP tests) with `[organizations.sms]` set to `sms` (TOML lines).
fn with_sms(app: &TestApp, sms: &str) -> String {
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

async fn spawn(backend: &Backend) -> TestApp {
    let db = TestDb::new(backend);
    let mut env = test_env(&db.url, db.dir.path());
    // The providers are on loopback: allowed in tests only.
    env.insert("SESAME_OUTBOUND_ALLOW_PRIVATE".into(), "true".into());
    TestApp::spawn_with(db, env).await
}

fn twilio(base: &str) -> String {
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
async fn otp_page(app: &TestApp, browser: &Browser) -> (String, u16, String) {
    let res = crate::sms_otp::password_step(app, browser, "mfa-web", "bob", BOB_PASSWORD).await;
    let otp_url = location(&res);
    let (status, html) = get(browser, &otp_url).await;
    (otp_url, status, html)
}

fn code_in(text: &str) -> String {
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

/// Base64 HMAC-SHA1 of Twilio's signed string (the URL, then each form field's name and value
/// sorted by name), computed with OpenSSL: not the plug-in's own code.
fn twilio_signature(token: &str, url: &str, body: &str) -> String {
    let mut fields: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    fields.sort();
    let mut data = url.to_string();
    for (k, v) in fields {
        data.push_str(&k);
        data.push_str(&v);
    }
    let key = openssl::pkey::PKey::hmac(token.as_bytes()).unwrap();
    let mut signer =
        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha1(), &key).unwrap();
    signer.update(data.as_bytes()).unwrap();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(signer.sign_to_vec().unwrap())
}

fn hmac_sha256_hex(key: &str, body: &str) -> String {
    let key = openssl::pkey::PKey::hmac(key.as_bytes()).unwrap();
    let mut signer =
        openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key).unwrap();
    signer.update(body.as_bytes()).unwrap();
    signer
        .sign_to_vec()
        .unwrap()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn post_receipt(
    url: &str,
    content_type: &str,
    header: Option<(&str, &str)>,
    body: &str,
) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body.to_string());
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The published undelivered events' data.
fn undelivered_events(app: &TestApp) -> Vec<serde_json::Value> {
    use diesel::prelude::*;
    use sesame::store::schema::event_outbox::dsl::*;
    let rows: Vec<Vec<u8>> = event_outbox
        .filter(event_type.eq("SmsOtpUndeliveredEvent"))
        .select(payload)
        .load(&mut app.db.get().unwrap())
        .unwrap();
    rows.iter()
        .map(|p| {
            let v: serde_json::Value = serde_json::from_slice(p).unwrap();
            v["event"]["urn:ietf:params:notifications:smsOtpUndelivered"].clone()
        })
        .collect()
}

const UNDELIVERED: &str = "The text message could not be delivered";

/// The delivery frame: (its CSP and X-Frame-Options) and its body.
async fn frame_of(browser: &Browser, url: &str) -> ((String, String), String) {
    let res = browser.client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let header = |name: &str| res.headers()[name].to_str().unwrap().to_string();
    let headers = (header("content-security-policy"), header("x-frame-options"));
    (headers, res.text().await.unwrap())
}

async fn twilio_status_callbacks_mark_a_code_undelivered(backend: Backend) {
    let (provider, base) = Provider::start().await;
    let app = spawn(&backend).await;
    app.import(&with_sms(
        &app,
        &format!(
            "[organizations.sms]\nchannel = \"gateways\"\n{}delivery_receipts = true\n",
            twilio(&base)
        ),
    ));
    provider.answer(201, r#"{"sid": "SM0123", "status": "queued"}"#);
    let browser = Browser::default();
    let (otp_url, status, html) = otp_page(&app, &browser).await;
    assert_eq!(status, 200);
    assert!(!html.contains(UNDELIVERED));
    // The page frames a small status page that reloads itself until a receipt comes.
    let tx = crate::helpers::query_of(&otp_url)["tx"].clone();
    let frame_url = format!("{}/otp/delivery?tx={tx}", app.issuer("acme"));
    // (Slashes come HTML-escaped.)
    assert!(
        html.contains(&format!(
            "<iframe class=\"delivery\" src=\"{}",
            app.issuer("acme").replace('/', "&#x2f;")
        )) && html.contains(&format!("&#x2f;otp&#x2f;delivery?tx={tx}\"")),
        "{html}"
    );
    let page = browser.client.get(&otp_url).send().await.unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let (headers, frame) = frame_of(&browser, &frame_url).await;
    assert!(headers.0.contains("frame-ancestors 'self'"), "{headers:?}");
    assert_eq!(headers.1, "SAMEORIGIN");
    assert!(
        frame.contains(r#"http-equiv="refresh" content="5""#),
        "{frame}"
    );
    assert!(frame.contains("Waiting for the delivery report"), "{frame}");
    // Another browser learns nothing of this sign-in.
    let (_, stranger) = frame_of(&Browser::default(), &frame_url).await;
    assert!(
        !stranger.contains("Waiting") && !stranger.contains("refresh"),
        "{stranger}"
    );
    let status_url = format!("{}/sms/status/twilio", app.issuer("acme"));
    let form: HashMap<String, String> =
        url::form_urlencoded::parse(provider.received()[0].body.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        form["StatusCallback"], status_url,
        "each message asks for receipts"
    );
    let form_type = "application/x-www-form-urlencoded";
    let post = |body: &'static str, signature: Option<String>| {
        let url = status_url.clone();
        async move {
            let header = signature.as_deref().map(|s| ("X-Twilio-Signature", s));
            post_receipt(&url, form_type, header, body).await
        }
    };
    let sign = |body: &str| Some(twilio_signature("twilio-auth-token", &status_url, body));

    // On its way: taken, nothing to show.
    let sent = "MessageSid=SM0123&MessageStatus=sent&To=%2B447400900123";
    assert_eq!(post(sent, sign(sent)).await.0, 204);
    assert!(!get(&browser, &otp_url).await.1.contains(UNDELIVERED));

    // Not from Twilio: no signature, another token's, or signed for another body.
    let failed = "MessageSid=SM0123&MessageStatus=undelivered&ErrorCode=30003";
    let (status, body) = post(failed, None).await;
    assert_eq!(status, 401, "{body}");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["error"], "invalid_signature");
    let forged = Some(twilio_signature("another-token", &status_url, failed));
    assert_eq!(post(failed, forged).await.0, 401);
    assert_eq!(post(failed, sign(sent)).await.0, 401);
    assert!(!get(&browser, &otp_url).await.1.contains(UNDELIVERED));
    assert!(undelivered_events(&app).is_empty());
    assert!(frame_of(&browser, &frame_url).await.1.contains("Waiting"));

    // Twilio says it will not arrive: the page says so at once and offers the backup code.
    assert_eq!(post(failed, sign(failed)).await.0, 204);
    let (status, html) = get(&browser, &otp_url).await;
    assert_eq!(status, 200);
    assert!(html.contains(UNDELIVERED), "{html}");
    assert!(html.contains("backup-code?tx="), "{html}");
    assert!(!html.contains("<iframe"), "nothing left to watch: {html}");
    let (_, frame) = frame_of(&browser, &frame_url).await;
    assert!(frame.contains("could not be delivered"), "{frame}");
    assert!(
        frame.contains(r#"target="_top""#) && !frame.contains("refresh"),
        "{frame}"
    );
    // The same receipt again (Twilio retries): one event.
    assert_eq!(post(failed, sign(failed)).await.0, 204);
    let events = undelivered_events(&app);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["status"], "undelivered 30003");
    assert_eq!(events[0]["gateway"], "twilio");
    assert_eq!(events[0]["sendTo"], "********0123");
    assert!(events[0]["userId"].as_str().is_some_and(|u| !u.is_empty()));
    // A text that arrives late still carries a good code; the frame's loads left the form of
    // the page loaded before them valid.
    let (_, html) = get(&browser, &otp_url).await;
    frame_of(&browser, &frame_url).await;
    let res = crate::sms_otp::post_form(
        &browser,
        &otp_url,
        &html,
        &[("code", &code_in(&form["Body"]))],
    )
    .await;
    code_at(&res, MFA_CB);

    // An unknown message (purged, or another system's): taken, nothing changes.
    let other = "MessageSid=SM9999&MessageStatus=failed";
    assert_eq!(post(other, sign(other)).await.0, 204);
    assert_eq!(undelivered_events(&app).len(), 1);
    // No gateway of that kind here.
    let (status, _) = post_receipt(
        &format!("{}/sms/status/http", app.issuer("acme")),
        form_type,
        None,
        failed,
    )
    .await;
    assert_eq!(status, 404);
}

async fn http_gateway_receipts_are_checked_with_the_shared_secret(backend: Backend) {
    let (provider, base) = Provider::start().await;
    let app = spawn(&backend).await;
    let secret = app.write_file("receipt-secret", "receipts-shared-secret-0123456789\n");
    let gateway = http(&base).replace(
        r#""from":"{sender}"}'"#,
        r#""from":"{sender}","callback":"{status_url}"}'"#,
    );
    app.import(&with_sms(
        &app,
        &format!(
            "[organizations.sms]\nchannel = \"gateways\"\n{gateway}\
             [organizations.sms.gateways.receipts]\nsecret = {{ file = \"{}\" }}\n\
             message_id_pointer = \"/data/id\"\nstatus_pointer = \"/data/state\"\n",
            secret.display()
        ),
    ));
    provider.answer(200, r#"{"id": "msg-77"}"#);
    let browser = Browser::default();
    let (otp_url, status, _) = otp_page(&app, &browser).await;
    assert_eq!(status, 200);
    let status_url = format!("{}/sms/status/http", app.issuer("acme"));
    let sent: serde_json::Value = serde_json::from_str(&provider.last_body()).unwrap();
    assert_eq!(sent["callback"], status_url.as_str());

    let json = "application/json";
    let failed = r#"{"data":{"id":"msg-77","state":"rejected"}}"#;
    let wrong = hmac_sha256_hex("not-the-shared-secret-0123456789", failed);
    let (status, body) =
        post_receipt(&status_url, json, Some(("X-Signature", &wrong)), failed).await;
    assert_eq!(status, 401, "{body}");
    assert!(!get(&browser, &otp_url).await.1.contains(UNDELIVERED));
    // Signed, but not a receipt.
    let junk = "not json";
    let mac = hmac_sha256_hex("receipts-shared-secret-0123456789", junk);
    let (status, body) = post_receipt(&status_url, json, Some(("X-Signature", &mac)), junk).await;
    assert_eq!(status, 400, "{body}");
    // Over the size limit.
    let big = "x".repeat(17 * 1024);
    assert_eq!(post_receipt(&status_url, json, None, &big).await.0, 413);

    let mac = hmac_sha256_hex("receipts-shared-secret-0123456789", failed);
    let signature = format!("sha256={mac}");
    let (status, body) =
        post_receipt(&status_url, json, Some(("X-Signature", &signature)), failed).await;
    assert_eq!(status, 204, "{body}");
    let (_, html) = get(&browser, &otp_url).await;
    assert!(html.contains(UNDELIVERED), "{html}");
    let events = undelivered_events(&app);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["status"], "rejected");
    // A new code clears it: its own text may well arrive.
    let res = submit(&browser, &otp_url, &[("action", "resend")]).await;
    let html = res.text().await.unwrap();
    assert!(html.contains("We sent a new code"), "{html}");
    assert!(!html.contains(UNDELIVERED), "{html}");
}

/// A message no gateway would take: the code's page says, on every later visit, that it will
/// not arrive.
async fn a_code_no_gateway_would_send_shows_as_undelivered(backend: Backend) {
    let (provider, base) = Provider::start().await;
    let app = spawn(&backend).await;
    app.import(&with_sms(
        &app,
        &format!(
            "[organizations.sms]\nchannel = \"gateways\"\n{}",
            http(&base)
        ),
    ));
    provider.answer(422, r#"{"error": "invalid number"}"#);
    let browser = Browser::default();
    let (otp_url, status, html) = otp_page(&app, &browser).await;
    assert_eq!(status, 422);
    assert!(
        !html.contains(UNDELIVERED),
        "the send's own error says it: {html}"
    );
    let (status, html) = get(&browser, &otp_url).await;
    assert_eq!(status, 200);
    assert!(html.contains(UNDELIVERED), "{html}");
    assert!(undelivered_events(&app).is_empty(), "no receipt, no event");
}

both_backends!(
    twilio_status_callbacks_mark_a_code_undelivered,
    http_gateway_receipts_are_checked_with_the_shared_secret,
    a_code_no_gateway_would_send_shows_as_undelivered,
);
