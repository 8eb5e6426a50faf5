//! What operators meet over HTTP: `HEAD`, request ids from proxies, the access log and where
//! each output goes.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb, test_env};

async fn head_answers_every_get_route_without_a_body(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    for path in [
        "/healthz",
        "/readyz",
        "/t/default/.well-known/openid-configuration",
        "/t/default/jwks",
        "/nothing/here",
    ] {
        let url = format!("{}{path}", app.address);
        let get = app.client.get(&url).send().await.unwrap();
        let (status, content_type) = (get.status(), get.headers()["content-type"].clone());
        let length = get.bytes().await.unwrap().len();
        assert!(length > 0, "{path}: GET has a body");
        let head = app.client.head(&url).send().await.unwrap();
        assert_eq!(head.status(), status, "{path}");
        assert_eq!(head.headers()["content-type"], content_type, "{path}");
        assert_eq!(
            head.headers()["content-length"].to_str().unwrap(),
            length.to_string(),
            "{path}: HEAD announces the GET's length"
        );
        assert!(head.headers().contains_key("x-request-id"));
        assert!(head.bytes().await.unwrap().is_empty(), "{path}: no body");
    }
    // A POST-only route is not turned into something else by HEAD.
    let head = app
        .client
        .head(format!("{}/t/default/token", app.address))
        .send()
        .await
        .unwrap();
    assert!(head.status().is_client_error(), "{}", head.status());
}

async fn request_ids_come_from_trusted_proxies_only(backend: Backend) {
    let test_db = TestDb::new(&backend);
    let mut env = test_env(&test_db.url, test_db.dir.path());
    env.insert("SESAME_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
    let app = TestApp::spawn_with(test_db, env).await;
    let id_for = |value: &str| {
        let request = app
            .client
            .get(format!("{}/healthz", app.address))
            .header("x-request-id", value);
        async move {
            let res = request.send().await.unwrap();
            res.headers()["x-request-id"].to_str().unwrap().to_string()
        }
    };
    assert_eq!(id_for("edge-7f3a:42").await, "edge-7f3a:42");
    let long = "a".repeat(129);
    for insane in ["two words", long.as_str()] {
        let id = id_for(insane).await;
        assert_eq!(id.len(), 36, "a new UUID instead of {insane:?}: {id}");
    }

    // Not from a trusted proxy: replaced.
    let app = TestApp::spawn(&backend).await;
    let res = app
        .client
        .get(format!("{}/healthz", app.address))
        .header("x-request-id", "client-chosen")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "client-chosen");
}

both_backends!(
    head_answers_every_get_route_without_a_body,
    request_ids_come_from_trusted_proxies_only
);

/// The `sesame` binary serving on a free port, its outputs captured; killed on drop.
struct Served {
    child: Option<Child>,
    base: String,
}

impl Served {
    async fn start(dir: &Path, extra: &[(&str, &str)], args: &[&str]) -> Self {
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
        env.insert("SESAME_LOG".into(), "info".into());
        for (k, v) in extra {
            env.insert((*k).into(), (*v).into());
        }
        let child = Command::new(env!("CARGO_BIN_EXE_sesame"))
            .arg("serve")
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&env)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let served = Self {
            child: Some(child),
            base,
        };
        for _ in 0..300 {
            if reqwest::get(format!("{}/healthz", served.base))
                .await
                .is_ok()
            {
                return served;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("sesame serve did not start");
    }

    /// Stops the server and returns (stdout, stderr).
    fn stop(mut self) -> (String, String) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_access_log_on_stderr_and_the_demo_banner_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(
        dir.path(),
        &[
            ("SESAME_LOG_FORMAT", "json"),
            ("SESAME_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
        &["--demo"],
    )
    .await;
    let client = reqwest::Client::new();
    let res = client
        .get(format!(
            "{}/t/demo/.well-known/openid-configuration?code=SECRET-IN-QUERY",
            served.base
        ))
        .header("x-request-id", "edge-1234")
        .header(
            "forwarded",
            "for=192.0.2.1, for=\"198.51.100.7:4711\";proto=https;host=id.example.com",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client
        .head(format!("{}/healthz", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (stdout, stderr) = served.stop();

    assert!(stdout.contains("alice"), "the demo banner is on stdout");
    assert!(!stdout.contains("\"level\""), "no log line on stdout");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(
        !stderr.contains("SECRET-IN-QUERY"),
        "the query is never logged"
    );
    let access: Vec<&serde_json::Value> =
        lines.iter().filter(|l| l["message"] == "request").collect();
    let discovery = access
        .iter()
        .find(|l| l["request_id"] == "edge-1234")
        .expect("an access line with the proxy's request id");
    assert_eq!(discovery["level"], "INFO");
    assert_eq!(discovery["method"], "GET");
    assert_eq!(
        discovery["route"],
        "/t/{org}/.well-known/openid-configuration"
    );
    assert_eq!(discovery["status"], 200);
    assert!(discovery["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        discovery["client_ip"], "198.51.100.7",
        "the nearest address in Forwarded"
    );
    assert_eq!(discovery["forwarded_proto"], "https");
    assert_eq!(discovery["forwarded_host"], "id.example.com");
    assert!(
        access
            .iter()
            .any(|l| l["method"] == "HEAD" && l["route"] == "/healthz"),
        "HEAD is logged as HEAD"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_access_log_names_route_status_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path(), &[], &[]).await;
    let res = reqwest::get(format!("{}/t/default/jwks?token=SECRET", served.base))
        .await
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
    let (stdout, stderr) = served.stop();
    let line = stderr
        .lines()
        .find(|l| l.contains(&id) && l.contains(" request "))
        .unwrap_or_else(|| panic!("no access line for {id} in {stderr}"));
    for part in [
        "INFO",
        "method=GET",
        "route=/t/{org}/jwks",
        "status=200",
        "duration_ms=",
        "client_ip=127.0.0.1",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
    assert!(!stderr.contains("SECRET"));
    assert!(!stdout.contains("INFO"), "logs are not on stdout: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_input_cannot_forge_log_lines_or_headers() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(dir.path(), &[], &["--demo"]).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let issuer = format!("{}/t/demo", served.base);
    // A line break in a token request's parameter: a clear OAuth error, and no forged line.
    let res = client
        .post(format!("{issuer}/token"))
        .basic_auth("demo-web", Some("x"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials%0AERROR+forged+line&scope=openid")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    // Raw CR/LF in the form body of the browser endpoints: 400, not a broken redirect.
    for endpoint in ["authorize", "logout"] {
        let res = client
            .post(format!("{issuer}/{endpoint}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("client_id=demo-web&state=a\r\nSet-Cookie: x=y\r\n&response_type=code")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{endpoint}");
        assert!(
            res.headers()
                .get("set-cookie")
                .is_none_or(|c| !c.to_str().unwrap().starts_with("x="))
        );
        let html = res.text().await.unwrap();
        assert!(html.contains("control characters"), "{html}");
    }
    // Percent-encoded line breaks in a GET are refused the same way.
    let res = client
        .get(format!(
            "{issuer}/authorize?client_id=demo-web&state=a%0D%0Ab"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    // A well-formed POST still becomes the same request as a GET, its parameters re-encoded.
    let res = client
        .post(format!("{issuer}/authorize"))
        .form(&[("client_id", "demo-web"), ("state", "a b&c")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let location = res.headers()["location"].to_str().unwrap();
    assert!(
        location.ends_with("/authorize?client_id=demo-web&state=a+b%26c"),
        "{location}"
    );

    let (_, stderr) = served.stop();
    assert!(
        !stderr
            .lines()
            .any(|l| l.starts_with("ERROR") || l.contains("Set-Cookie")),
        "a forged line: {stderr}"
    );
}
