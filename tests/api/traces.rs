//! OpenTelemetry traces, end to end: the real `sesame serve` (the global subscriber is set once
//! per process, so the server runs as a child process) exporting to an OTLP/HTTP receiver
//! started here, whose protobuf payloads are decoded with `opentelemetry-proto`.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Browser, form_field, location, test_env, wait_for};

/// One export the receiver got.
#[derive(Debug, Clone)]
struct Export {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// A minimal OTLP/HTTP receiver on loopback: HTTP/1.1 with keep-alive, every POST answered 200
/// with an empty (valid) protobuf `ExportTraceServiceResponse`. Counts connections.
#[derive(Clone, Default)]
struct Receiver {
    exports: Arc<Mutex<Vec<Export>>>,
    connections: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start_on(listener: tokio::net::TcpListener) -> Self {
        let receiver = Self::default();
        let r = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                r.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(r.clone().serve(stream));
            }
        });
        receiver
    }

    async fn start() -> (Self, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (
            Self::start_on(listener).await,
            format!("http://127.0.0.1:{port}"),
        )
    }

    async fn serve(self, mut stream: tokio::net::TcpStream) {
        let mut buf = Vec::new();
        loop {
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let mut chunk = [0u8; 8192];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let mut lines = head.lines();
            let path = lines
                .next()
                .and_then(|l| l.split(' ').nth(1))
                .unwrap_or_default()
                .to_string();
            let headers: HashMap<String, String> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let length: usize = headers
                .get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < head_end + length {
                let mut chunk = [0u8; 8192];
                match stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            self.exports.lock().unwrap().push(Export {
                path,
                content_type: headers.get("content-type").cloned().unwrap_or_default(),
                body: buf[head_end..head_end + length].to_vec(),
            });
            buf.drain(..head_end + length);
            let answer = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
            if stream.write_all(answer).await.is_err() {
                return;
            }
        }
    }

    fn exports(&self) -> Vec<Export> {
        self.exports.lock().unwrap().clone()
    }
}

/// `sesame serve --demo` as a child process; its standard output is collected as it comes (the
/// console SMS channel prints codes there).
struct Server {
    child: Child,
    base: String,
    stdout: Arc<Mutex<String>>,
}

impl Server {
    async fn start(dir: &Path, extra: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let db = format!("sqlite://{}", dir.join("sesame.db").display());
        let mut env = test_env(&db, dir);
        env.insert("SESAME_LISTEN".into(), format!("127.0.0.1:{port}"));
        env.insert("SESAME_BASE_URL".into(), base.clone());
        env.insert("SESAME_LOG".into(), "warn".into());
        for (k, v) in extra {
            env.insert((*k).into(), (*v).into());
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_sesame"))
            .args(["serve", "--demo"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&env)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stdout.take().unwrap();
        let sink = stdout.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        });
        let server = Self {
            child,
            base,
            stdout,
        };
        for _ in 0..300 {
            if reqwest::get(format!("{}/healthz", server.base))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("sesame serve did not start");
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// Stops the server as an operator would (SIGTERM: a graceful stop) and waits for it.
    async fn terminate(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "sesame exited with {status}");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let _ = self.child.kill();
        panic!("sesame did not stop within 30 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A decoded span with what the assertions look at.
#[derive(Debug, Clone)]
struct Span {
    service: String,
    name: String,
    kind: i32,
    trace_id: String,
    span_id: String,
    parent: String,
    attributes: HashMap<String, String>,
    status: i32,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(attributes: &[KeyValue]) -> HashMap<String, String> {
    attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn decode(exports: &[Export]) -> Vec<Span> {
    let mut spans = Vec::new();
    for export in exports {
        let request = ExportTraceServiceRequest::decode(export.body.as_slice())
            .expect("an OTLP protobuf trace export");
        for resource_spans in request.resource_spans {
            let resource = text(
                &resource_spans
                    .resource
                    .map(|r| r.attributes)
                    .unwrap_or_default(),
            );
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    spans.push(Span {
                        service: resource.get("service.name").cloned().unwrap_or_default(),
                        name: span.name.clone(),
                        kind: span.kind,
                        trace_id: hex(&span.trace_id),
                        span_id: hex(&span.span_id),
                        parent: hex(&span.parent_span_id),
                        attributes: text(&span.attributes),
                        status: span.status.map_or(0, |s| s.code),
                    });
                }
            }
        }
    }
    spans
}

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// Whether `child` descends from `ancestor` (same trace, through parent ids).
fn descends(spans: &[Span], child: &Span, ancestor: &Span) -> bool {
    let mut current = child;
    while !current.parent.is_empty() {
        if current.parent == ancestor.span_id {
            return current.trace_id == ancestor.trace_id;
        }
        match spans.iter().find(|s| s.span_id == current.parent) {
            Some(parent) => current = parent,
            None => return false,
        }
    }
    false
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location.to_string()
    }
}

const FAKE_CODE: &str = "FAKECODE7c1e9a";
const CALLER_TRACE: &str = "5b8efff798038103d269b633813fc60c";
const CALLER_SPAN: &str = "eee19b7ec3c1b174";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_exported_as_spans_without_secrets_and_flushed_on_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, endpoint) = Receiver::start().await;
    let server = Server::start(
        dir.path(),
        &[
            ("SESAME_OTLP_ENDPOINT", &endpoint),
            // Sesame's own setting wins over the standard variable.
            ("SESAME_SERVICE_NAME", "idp-under-test"),
            ("OTEL_SERVICE_NAME", "not-this-one"),
            ("SESAME_TRUSTED_PROXIES", "127.0.0.1/32"),
            // Nothing is exported before the stop: what arrives was flushed by the shutdown.
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
        ],
    )
    .await;
    let base = server.base.clone();

    {
        let client = reqwest::Client::new();
        // A caller's trace, through a trusted proxy; a secret-looking query that must stay out.
        let res = client
            .get(format!(
                "{base}/t/demo/.well-known/openid-configuration?code={FAKE_CODE}"
            ))
            .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let res = client
            .post(format!("{base}/t/demo/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", FAKE_CODE),
                ("client_id", "demo-web"),
                ("client_secret", "wrong-secret-0f3a"),
                ("redirect_uri", "http://localhost:8080/callback"),
            ])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{}", res.status());

        let auth_url = format!(
            "{base}/t/demo/authorize?client_id=demo-web&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fcallback&response_type=code&scope=openid&state={FAKE_CODE}"
        );
        // A wrong password, then the right one: the second step sends an SMS code.
        let wrong = Browser::default();
        let res = wrong.client.get(&auth_url).send().await.unwrap();
        let res = wrong
            .sign_in(
                &absolute(&base, &location(&res)),
                "alice",
                "wrong-password-51d7",
            )
            .await;
        assert_eq!(res.status(), 200, "the page again, with an error");
        let browser = Browser::default();
        let res = browser
            .authorize_and_sign_in(&auth_url, "alice", sesame::demo::DEMO_PASSWORD)
            .await;
        assert_eq!(res.status(), 303);
        let otp = location(&res);
        assert!(otp.contains("/otp"), "{otp}");
        let page = browser
            .client
            .get(absolute(&base, &otp))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        assert!(form_field(&page.text().await.unwrap(), "csrf").is_some());
        wait_for("the SMS on the console channel", || {
            server.stdout().contains("=== SMS to")
        })
        .await;
    }
    let sms_code: String = {
        let out = server.stdout();
        let message = out.split("=== SMS to").nth(1).unwrap().to_string();
        let body = message.lines().nth(1).unwrap_or_default().to_string();
        body.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() >= 6)
            .expect("a code in the SMS")
            .to_string()
    };
    assert!(
        receiver.exports().is_empty(),
        "nothing before the batch delay or the stop"
    );
    server.terminate().await;

    let exports = receiver.exports();
    assert!(!exports.is_empty(), "the stop flushed the spans");
    for export in &exports {
        assert_eq!(export.path, "/v1/traces");
        assert_eq!(export.content_type, "application/x-protobuf");
        // Nothing secret or personal anywhere in the payload, whichever field it could be in.
        let raw = String::from_utf8_lossy(&export.body);
        for secret in [
            FAKE_CODE,
            "wrong-secret-0f3a",
            "wrong-password-51d7",
            sesame::demo::DEMO_PASSWORD,
            "alice@example.com",
            "+14155550100",
            "4155550100",
            &sms_code,
        ] {
            assert!(!raw.contains(secret), "{secret:?} was exported");
        }
    }
    let spans = decode(&exports);
    assert!(
        spans.iter().all(|s| s.service == "idp-under-test"),
        "service name"
    );

    // The server span of the discovery request: named by route, in the caller's trace.
    let discovery = named(&spans, "GET /t/{org}/.well-known/openid-configuration");
    assert_eq!(discovery.len(), 1, "{spans:#?}");
    let discovery = discovery[0];
    assert_eq!(discovery.kind, SpanKind::Server as i32);
    assert_eq!(
        discovery.attributes["http.route"],
        "/t/{org}/.well-known/openid-configuration"
    );
    assert_eq!(discovery.attributes["http.method"], "GET");
    assert_eq!(discovery.attributes["http.status_code"], "200");
    assert_eq!(
        discovery.attributes["http.target"],
        "/t/demo/.well-known/openid-configuration"
    );
    assert!(!discovery.attributes["request_id"].is_empty());
    assert_eq!(discovery.trace_id, CALLER_TRACE);
    assert_eq!(discovery.parent, CALLER_SPAN);

    // The refused token request: a 4xx is not a server error.
    let token = named(&spans, "POST /t/{org}/token");
    assert_eq!(token.len(), 1);
    let status: u16 = token[0].attributes["http.status_code"].parse().unwrap();
    assert!((400..500).contains(&status), "{status}");
    assert_ne!(token[0].status, StatusCode::Error as i32);
    assert_ne!(
        token[0].trace_id, CALLER_TRACE,
        "a new trace without traceparent"
    );
    assert!(token[0].parent.is_empty(), "a root span");

    // The sign-in: engine steps under their requests, the password hash under its step.
    let posts = named(&spans, "POST /t/{org}/login");
    assert_eq!(posts.len(), 2);
    let steps = named(&spans, "sign-in: password");
    assert_eq!(steps.len(), 2);
    let mut outcomes: Vec<&str> = steps
        .iter()
        .map(|s| s.attributes["sesame.outcome"].as_str())
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["advanced", "step: wrong_credentials"]);
    for step in &steps {
        assert_eq!(step.attributes["sesame.org"], "demo");
        assert!(posts.iter().any(|p| descends(&spans, step, p)));
        let hashes: Vec<_> = named(&spans, "password verify")
            .into_iter()
            .filter(|h| descends(&spans, h, step))
            .collect();
        assert_eq!(hashes.len(), 1, "one password check per attempt");
        assert!(
            named(&spans, "argon2id")
                .iter()
                .any(|a| descends(&spans, a, hashes[0]))
        );
    }
    let shown = named(&spans, "sign-in: show SMS OTP step");
    assert_eq!(shown.len(), 1);
    // Database work, with its pool checkout, inside requests.
    let db = named(&spans, "db");
    assert!(db.iter().any(|d| descends(&spans, d, shown[0])));
    assert!(
        named(&spans, "pool checkout")
            .iter()
            .all(|c| db.iter().any(|d| c.parent == d.span_id))
    );
    // The SMS went out through the console gateway in a delivery of its own.
    let sms = named(&spans, "SMS send");
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].attributes["sesame.sms.gateway"], "console");
    assert_eq!(sms[0].attributes["sesame.sms.result"], "sent");
    let delivery = named(&spans, "event delivery");
    assert!(delivery.iter().any(|d| descends(&spans, sms[0], d)));
    assert_eq!(delivery[0].attributes["sesame.delivery.target"], "sms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_or_when_disabled_nothing_is_sent() {
    // The standard variable with OTEL_SDK_DISABLED: off.
    let (receiver, endpoint) = Receiver::start().await;
    // OTLP's default port on this machine, when free: with nothing configured, Sesame must not
    // fall back to it.
    let default_port = match tokio::net::TcpListener::bind("127.0.0.1:4318").await {
        Ok(listener) => Some(Receiver::start_on(listener).await),
        Err(_) => None,
    };
    for extra in [
        vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_SDK_DISABLED", "true"),
        ],
        vec![("OTEL_SERVICE_NAME", "configured-but-no-endpoint")],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut extra = extra;
        extra.push(("OTEL_BSP_SCHEDULE_DELAY", "10"));
        let server = Server::start(dir.path(), &extra).await;
        let res = reqwest::get(format!(
            "{}/t/demo/.well-known/openid-configuration",
            server.base
        ))
        .await
        .unwrap();
        assert_eq!(res.status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        server.terminate().await;
    }
    assert_eq!(receiver.connections.load(Ordering::SeqCst), 0);
    if let Some(default_port) = default_port {
        assert_eq!(default_port.connections.load(Ordering::SeqCst), 0);
    }
}
