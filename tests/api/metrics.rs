//! `/metrics`: after real sign-ins (password, SMS OTP, code exchange) the series move with the
//! right labels and carry nothing that names a user, a number or a client address; access is
//! controlled (token, disabled, separate listener, path prefix); the Grafana dashboard only
//! asks for series a real scrape declares. Every exposition is checked line by line against
//! the text format and parsed by `prometheus-parse`.

use std::collections::{BTreeMap, BTreeSet};

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, TestDb, location, test_env, wait_for};
use crate::sms_otp::{
    BOB_PASSWORD, MFA_CB, SECRET, acme_toml, code_at, get, last_code, password_step, post_form,
    sql, submit,
};

/// One sample line, as the strict reader saw it.
#[derive(Debug, Clone)]
struct Line {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape: the text and its strict reading.
pub struct Exposition {
    text: String,
    lines: Vec<Line>,
    /// Families declared by `# TYPE`, with their type.
    types: BTreeMap<String, String>,
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut bytes = s.bytes();
    let first_ok = |b: u8| b.is_ascii_alphabetic() || b == b'_' || (colon && b == b':');
    bytes.next().is_some_and(first_ok)
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || (colon && b == b':'))
}

fn number(s: &str) -> Option<f64> {
    match s {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => s.parse::<f64>().ok().filter(|v| v.is_finite()),
    }
}

/// Reads `name{a="x",b="y"} value` strictly: names, quoting and escapes as the text format
/// (0.0.4) has them. Panics with the line on anything else.
fn sample_line(line: &str) -> Line {
    let bad = |why: &str| -> ! { panic!("{why}: {line:?}") };
    let name_end = line.find(['{', ' ']).unwrap_or_else(|| bad("no value"));
    let name = &line[..name_end];
    if !is_name(name, true) {
        bad("bad metric name");
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices().peekable();
        loop {
            let start = chars.peek().map(|(i, _)| *i).unwrap_or_else(|| bad("open"));
            if inner[start..].starts_with('}') {
                rest = &inner[start + 1..];
                break;
            }
            let eq = inner[start..].find('=').unwrap_or_else(|| bad("no =")) + start;
            let key = &inner[start..eq];
            if !is_name(key, false) {
                bad("bad label name");
            }
            if !inner[eq + 1..].starts_with('"') {
                bad("unquoted label value");
            }
            while chars.next_if(|(i, _)| *i <= eq + 1).is_some() {}
            let mut value = String::new();
            loop {
                match chars.next().unwrap_or_else(|| bad("unterminated value")) {
                    (_, '\\') => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        _ => bad("bad escape"),
                    },
                    (_, '"') => break,
                    (_, '\n') => bad("newline in value"),
                    (_, c) => value.push(c),
                }
            }
            assert!(
                labels.insert(key.to_string(), value).is_none(),
                "label twice: {line:?}"
            );
            match chars.next() {
                Some((_, ',')) => {}
                Some((i, '}')) => {
                    rest = &inner[i + 1..];
                    break;
                }
                _ => bad("expected , or }"),
            }
        }
    }
    let mut parts = rest
        .strip_prefix(' ')
        .unwrap_or_else(|| bad("no space before the value"))
        .split(' ');
    let value = parts
        .next()
        .and_then(number)
        .unwrap_or_else(|| bad("bad value"));
    if let Some(ts) = parts.next()
        && ts.parse::<i64>().is_err()
    {
        bad("bad timestamp");
    }
    if parts.next().is_some() {
        bad("trailing text");
    }
    Line {
        name: name.to_string(),
        labels,
        value,
    }
}

/// The family a sample belongs to (a histogram's `_bucket`, `_sum` and `_count` are its own).
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find(|base| types.get(*base).is_some_and(|t| t == "histogram"))
}

fn read_exposition(text: String) -> Exposition {
    let mut lines = Vec::new();
    let mut types = BTreeMap::new();
    let mut helps = BTreeSet::new();
    for raw in text.lines() {
        if let Some(comment) = raw.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            let (kind, name, rest) = (words.next(), words.next(), words.next());
            let name = name.unwrap_or_else(|| panic!("bad comment {raw:?}"));
            assert!(is_name(name, true), "{raw:?}");
            match kind {
                Some("HELP") => assert!(helps.insert(name.to_string()), "HELP twice: {raw:?}"),
                Some("TYPE") => {
                    let t = rest.unwrap_or_default();
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "{raw:?}"
                    );
                    assert!(
                        types.insert(name.to_string(), t.to_string()).is_none(),
                        "TYPE twice: {raw:?}"
                    );
                }
                _ => panic!("unexpected comment {raw:?}"),
            }
            continue;
        }
        assert!(!raw.is_empty(), "empty line in the exposition");
        let line = sample_line(raw);
        assert!(
            family_of(&line.name, &types).is_some(),
            "sample before its # TYPE: {raw:?}"
        );
        lines.push(line);
    }
    Exposition { text, lines, types }
}

impl Exposition {
    /// The sum of the samples of `name` whose labels include `labels` (0 when none).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.lines
            .iter()
            .filter(|l| l.name == name)
            .filter(|l| {
                labels
                    .iter()
                    .all(|(k, v)| l.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|l| l.value)
            .fold(0.0, |a, b| a + b)
    }

    /// Every label value of every sample.
    fn label_values(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.lines.iter().flat_map(|l| {
            l.labels
                .iter()
                .map(move |(k, v)| (l.name.as_str(), k.as_str(), v.as_str()))
        })
    }
}

async fn scrape_at(client: &reqwest::Client, url: &str) -> Exposition {
    let res = client.get(url).send().await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    read_exposition(res.text().await.unwrap())
}

pub async fn scrape(app: &TestApp) -> Exposition {
    scrape_at(&app.client, &format!("{}/metrics", app.address)).await
}

/// Exchanges an authorization code of `mfa-web` at the token endpoint.
async fn exchange(app: &TestApp, code: &str) {
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("mfa-web", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", MFA_CB),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

async fn a_sign_in_moves_the_series_and_names_nobody(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.import(&acme_toml(
        "resend_cooldown_seconds = 0",
        "max_attempts = 20",
    ));
    // Two failed passwords: bob's, and a username nobody has.
    for (user, password) in [("bob", "not-bobs-password"), ("nobody", "whatever-pass")] {
        let res = password_step(&app, &Browser::default(), "mfa-web", user, password).await;
        assert_eq!(res.status(), 200, "the sign-in page again");
    }
    // A whole sign-in: password, the SMS code, the code exchanged for tokens.
    let browser = Browser::default();
    let res = password_step(&app, &browser, "mfa-web", "bob", BOB_PASSWORD).await;
    let otp_url = location(&res);
    assert!(otp_url.contains("/otp?tx="), "{otp_url}");
    let (status, _) = get(&browser, &otp_url).await;
    assert_eq!(status, 200);
    wait_for("the code", || !app.sms.sent().is_empty()).await;
    let res = submit(&browser, &otp_url, &[("code", &last_code(&app))]).await;
    exchange(&app, &code_at(&res, MFA_CB)).await;
    // A code used twice is refused: the failure outcome of the grant.
    let again = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("mfa-web", Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "not-a-code"),
            ("redirect_uri", MFA_CB),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);

    let m = scrape(&app).await;
    let acme = [("organization", "acme"), ("application", "mfa-web")];
    let sign_in = |factor: &str, outcome: &str| {
        let mut labels = acme.to_vec();
        labels.extend([("factor", factor), ("outcome", outcome)]);
        m.value("sesame_sign_in_attempts_total", &labels)
    };
    assert_eq!(sign_in("password", "failed"), 2.0, "{}", m.text);
    assert_eq!(
        m.value(
            "sesame_sign_in_attempts_total",
            &[("factor", "password"), ("reason", "wrong_credentials")]
        ),
        2.0
    );
    assert_eq!(sign_in("password", "passed"), 1.0);
    assert_eq!(sign_in("sms_otp", "completed"), 1.0);
    assert_eq!(sign_in("sms_otp", "failed"), 0.0);

    let token = |route: &str, status: &str| {
        m.value(
            "sesame_http_requests_total",
            &[("route", route), ("method", "POST"), ("status", status)],
        )
    };
    assert_eq!(token("/t/{org}/token", "200"), 1.0);
    assert_eq!(token("/t/{org}/token", "400"), 1.0);
    assert_eq!(token("/t/{org}/login", "303"), 1.0, "the right password");
    assert_eq!(
        m.value(
            "sesame_http_requests_total",
            &[("route", "/t/{org}/authorize"), ("method", "GET")]
        ),
        3.0
    );
    assert_eq!(
        m.value(
            "sesame_http_request_duration_seconds_count",
            &[("route", "/t/{org}/token"), ("method", "POST")]
        ),
        2.0
    );
    assert!(
        m.value(
            "sesame_http_request_duration_seconds_sum",
            &[("route", "/t/{org}/login"), ("method", "POST")]
        ) > 0.0
    );

    let sms = [("organization", "acme"), ("gateway", "capture")];
    assert_eq!(
        m.value(
            "sesame_sms_sends_total",
            &[sms[0], sms[1], ("outcome", "sent")]
        ),
        1.0
    );
    assert_eq!(
        m.value("sesame_sms_send_duration_seconds_count", &[sms[1]]),
        1.0
    );
    assert_eq!(
        m.value(
            "sesame_event_deliveries_total",
            &[("target", "sms"), ("outcome", "delivered")]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "sesame_token_requests_total",
            &[
                acme[0],
                acme[1],
                ("grant_type", "authorization_code"),
                ("outcome", "issued")
            ]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "sesame_token_requests_total",
            &[
                ("grant_type", "authorization_code"),
                ("outcome", "invalid_grant")
            ]
        ),
        1.0
    );
    // One argon2 verification per password tried, an unknown username included.
    let verify = [("operation", "verify")];
    assert_eq!(
        m.value("sesame_password_hash_duration_seconds_count", &verify),
        3.0
    );
    assert_eq!(
        m.value("sesame_password_hash_queue_wait_seconds_count", &verify),
        3.0
    );
    assert!(m.value("sesame_password_hash_duration_seconds_sum", &verify) > 0.0);
    assert_eq!(m.value("sesame_password_hash_waiting", &[]), 0.0);
    assert!(m.value("sesame_password_hash_slots", &[]) >= 1.0);

    assert_eq!(m.value("sesame_db_pool_max_connections", &[]), 10.0);
    let held = m.value("sesame_db_pool_connections", &[("state", "idle")])
        + m.value("sesame_db_pool_connections", &[("state", "in_use")]);
    assert!((1.0..=10.0).contains(&held), "{held}");
    assert!(m.value("sesame_db_pool_wait_seconds_count", &[]) > 10.0);
    assert_eq!(m.value("sesame_db_pool_timeouts_total", &[]), 0.0);
    for target in ["sms", "webhook"] {
        assert_eq!(
            m.value("sesame_outbox_pending_deliveries", &[("target", target)]),
            0.0
        );
        assert_eq!(
            m.value(
                "sesame_outbox_oldest_pending_age_seconds",
                &[("target", target)]
            ),
            0.0
        );
    }
    assert_eq!(m.value("sesame_account_locks_total", &[]), 0.0);
    // The process, read from /proc (Linux).
    assert!(m.value("process_resident_memory_bytes", &[]) > 1e6);
    assert!(m.value("process_open_fds", &[]) >= 3.0);
    assert!(m.value("process_cpu_seconds_total", &[]) > 0.0);
    let started = m.value("process_start_time_seconds", &[]);
    let now = sesame::store::now() as f64;
    assert!((now - 86_400.0..=now + 1.0).contains(&started), "{started}");

    // Nobody is named: no username, number (in any form) or client address, in any label or
    // anywhere else; routes are patterns, never paths.
    for secret in [
        "bob",
        "nobody",
        "+447400900123",
        "7400900123",
        "7400 900123",
        "127.0.0.1",
    ] {
        assert!(
            !m.text.to_lowercase().contains(secret),
            "{secret} in\n{}",
            m.text
        );
    }
    for (name, key, value) in m.label_values() {
        if key == "route" {
            assert!(
                value == "default" || (value.starts_with('/') && !value.contains("acme")),
                "{name}: {value}"
            );
        }
        if value.contains("acme") {
            assert_eq!(key, "organization", "{name}: {key}={value}");
        }
    }
}

/// Ends with a scrape in which every family has samples, so the dashboard is checked against all
/// of them.
async fn failures_locks_the_outbox_backlog_and_the_dashboard(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    // With an application signing in by magic link, for a mail's sample.
    app.import(&format!(
        "{}\n[[organizations.applications]]\nclient_id = \"link-web\"\ntype = \"confidential\"\n\
         client_secret = \"{SECRET}\"\nredirect_uris = [\"{LINK_CB}\"]\n\
         sign_in_flow = [[\"magic_link\"]]\n\n[[organizations.users]]\nusername = \"lena\"\n\
         email = \"lena@acme.example\"\nemail_verified = true\n",
        acme_toml(
            "resend_cooldown_seconds = 0",
            "max_attempts = 2\nip_max_failures = 3",
        )
    ));
    // Two wrong passwords lock bob's account.
    for _ in 0..2 {
        let res = password_step(
            &app,
            &Browser::default(),
            "mfa-web",
            "bob",
            "wrong-password",
        )
        .await;
        assert_eq!(res.status(), 200);
    }
    let m = scrape(&app).await;
    assert_eq!(
        m.value(
            "sesame_account_locks_total",
            &[("organization", "acme"), ("factor", "password")]
        ),
        1.0,
        "{}",
        m.text
    );
    assert_eq!(
        m.value(
            "sesame_sign_in_attempts_total",
            &[("factor", "password"), ("outcome", "failed")]
        ),
        2.0
    );
    // The locked account is refused, whatever the password.
    let res = password_step(&app, &Browser::default(), "mfa-web", "bob", BOB_PASSWORD).await;
    assert_eq!(res.status(), 403);
    let m = scrape(&app).await;
    assert_eq!(
        m.value(
            "sesame_sign_in_attempts_total",
            &[
                ("factor", "password"),
                ("outcome", "refused"),
                ("reason", "locked")
            ]
        ),
        1.0
    );
    assert_eq!(m.value("sesame_account_locks_total", &[]), 1.0);
    // A fourth failure from the same address makes the network wait.
    let res = password_step(&app, &Browser::default(), "mfa-web", "carol", "wrong-pass").await;
    assert_eq!(res.status(), 429);
    let m = scrape(&app).await;
    assert_eq!(
        m.value("sesame_network_locks_total", &[("organization", "acme")]),
        1.0
    );
    assert_eq!(
        m.value(
            "sesame_sign_in_attempts_total",
            &[("outcome", "refused"), ("reason", "network_throttled")]
        ),
        1.0
    );

    // A gateway outage: the send fails, the delivery waits in the outbox.
    sql(&app, "DELETE FROM login_throttle");
    app.sms.set_failing(true);
    let browser = Browser::default();
    let res = password_step(&app, &browser, "mfa-web", "bob", BOB_PASSWORD).await;
    let otp_url = location(&res);
    let (status, html) = get(&browser, &otp_url).await;
    assert_eq!(status, 422);
    assert!(html.contains("could not send the code yet"), "{html}");
    sql(
        &app,
        "UPDATE deliveries SET created_at = created_at - 120 WHERE state = 'pending'",
    );
    let m = scrape(&app).await;
    let sms = [("target", "sms")];
    // The worker retries after two seconds: a slow run may have seen a second attempt.
    let failed_sends = m.value(
        "sesame_sms_sends_total",
        &[("gateway", "capture"), ("outcome", "retryable_error")],
    );
    assert!(failed_sends >= 1.0, "{}", m.text);
    assert_eq!(
        m.value("sesame_sms_sends_total", &[("outcome", "sent")]),
        0.0
    );
    let retries = m.value(
        "sesame_event_deliveries_total",
        &[sms[0], ("outcome", "retry")],
    );
    assert!((1.0..=failed_sends).contains(&retries), "{}", m.text);
    assert_eq!(m.value("sesame_outbox_pending_deliveries", &sms), 1.0);
    let age = m.value("sesame_outbox_oldest_pending_age_seconds", &sms);
    assert!((120.0..300.0).contains(&age), "{age}");
    assert_eq!(
        m.value("sesame_outbox_pending_deliveries", &[("target", "webhook")]),
        0.0
    );
    assert!(!m.text.contains("7400900123"));

    // A sign-in link mailed (by the console mailer), so that mails have a sample too.
    let browser = Browser::default();
    let res = browser
        .client
        .get(format!(
            "{}/authorize?client_id=link-web&redirect_uri={LINK_CB}&response_type=code&scope=openid",
            app.issuer("acme")
        ))
        .send()
        .await
        .unwrap();
    let (_, login) = get(&browser, &location(&res)).await;
    let res = post_form(
        &browser,
        &format!("{}/magic-link", app.issuer("acme")),
        &login,
        &[("identifier", "lena")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let link = [("purpose", "magic_link"), ("outcome", "sent")];
    for _ in 0..100 {
        if scrape(&app).await.value("sesame_mail_sends_total", &link) == 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A grant refused, so that token requests have a sample too; then the dashboard.
    let res = app
        .client
        .post(format!("{}/token", app.issuer("acme")))
        .basic_auth("mfa-web", Some(SECRET))
        .form(&[("grant_type", "authorization_code"), ("code", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let m = scrape(&app).await;
    assert_eq!(
        m.value(
            "sesame_token_requests_total",
            &[("outcome", "invalid_grant")]
        ),
        1.0
    );
    assert_eq!(m.value("sesame_mail_sends_total", &link), 1.0);
    the_dashboard_asks_only_for(&m);
}

both_backends!(
    a_sign_in_moves_the_series_and_names_nobody,
    failures_locks_the_outbox_backlog_and_the_dashboard
);

async fn spawn_sqlite(vars: &[(&str, &str)]) -> TestApp {
    let test_db = TestDb::new(&Backend::Sqlite);
    let mut env = test_env(&test_db.url, test_db.dir.path());
    env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    TestApp::spawn_with(test_db, env).await
}

const LINK_CB: &str = "https://link.acme.example/callback";
const TOKEN: &str = "a-scraper-token-of-some-length";

#[tokio::test]
async fn a_bearer_token_guards_the_endpoint() {
    let app = spawn_sqlite(&[("SESAME_METRICS_TOKEN", TOKEN)]).await;
    let url = format!("{}/metrics", app.address);
    let none = app.client.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"sesame-metrics\""
    );
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("a-scraper-token-of-some-lengtX")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let basic = app
        .client
        .get(&url)
        .basic_auth("x", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    let right = app
        .client
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 200);
    let m = read_exposition(right.text().await.unwrap());
    assert_eq!(
        m.value(
            "sesame_http_requests_total",
            &[("route", "/metrics"), ("status", "401")]
        ),
        3.0
    );
    // OpenMetrics when the scraper asks for it.
    let om = app
        .client
        .get(&url)
        .bearer_auth(TOKEN)
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(om.status(), 200);
    assert!(
        om.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    let body = om.text().await.unwrap();
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(
        body.contains("# TYPE sesame_http_requests counter"),
        "{body}"
    );
}

#[tokio::test]
async fn disabled_metrics_are_not_found() {
    let app = spawn_sqlite(&[("SESAME_METRICS_ENABLED", "false")]).await;
    let res = app.get("/metrics").await;
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_separate_listener_serves_them_and_the_main_one_does_not() {
    let app = spawn_sqlite(&[
        ("SESAME_METRICS_LISTEN", "127.0.0.1:0"),
        ("SESAME_METRICS_TOKEN", TOKEN),
    ])
    .await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    let port = app.metrics_port.expect("a metrics listener");
    assert_ne!(port, app.port);
    let url = format!("http://127.0.0.1:{port}/metrics");
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
    let res = app
        .client
        .get(&url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let m = read_exposition(res.text().await.unwrap());
    // The main listener's 404 was counted; nothing else is served on the metrics port.
    assert_eq!(
        m.value(
            "sesame_http_requests_total",
            &[("route", "/metrics"), ("status", "404")]
        ),
        1.0
    );
    let other = app
        .client
        .get(format!("http://127.0.0.1:{port}/t/acme/jwks"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn under_a_path_prefix_the_endpoint_is_under_it() {
    let app = spawn_sqlite(&[("SESAME_TEST_BASE_PATH", "/id")]).await;
    app.import(&crate::helpers::acme_toml());
    assert_eq!(app.get("/metrics").await.status(), 404);
    let res = app.get("/id/t/acme/.well-known/openid-configuration").await;
    assert_eq!(res.status(), 200);
    let m = scrape_at(&app.client, &format!("{}/id/metrics", app.address)).await;
    assert_eq!(
        m.value(
            "sesame_http_requests_total",
            &[
                ("route", "/id/t/{org}/.well-known/openid-configuration"),
                ("status", "200")
            ]
        ),
        1.0,
        "{}",
        m.text
    );
}

/// The metric names a PromQL expression uses (`sesame_…`, `process_…`).
fn names_in(expr: &str) -> Vec<String> {
    let mut names = names_with(expr, "sesame_");
    names.extend(names_with(expr, "process_"));
    names
}

fn names_with(expr: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find(prefix) {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        // Not part of a longer identifier (a label value such as `"sesame_x"` is not a name).
        let before = rest[..i].chars().last();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '"') {
            names.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

fn exprs(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "query", serde_json::Value::String(e)) => out.push(e.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

/// Every series the Grafana dashboard queries is declared by the scrape `m`, and every family
/// of `m` has a panel: the dashboard cannot drift from the code. (A family is declared once it
/// has a sample, so `m` must come after activity that gives each one.)
fn the_dashboard_asks_only_for(m: &Exposition) {
    let mut declared = BTreeSet::new();
    for (name, kind) in &m.types {
        declared.insert(name.clone());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                declared.insert(format!("{name}{suffix}"));
            }
        }
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/packaging/grafana/sesame-dashboard.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut all = Vec::new();
    exprs(&dashboard, &mut all);
    assert!(all.len() >= 10, "the dashboard has its queries: {all:?}");
    let mut used = BTreeSet::new();
    for expr in &all {
        for name in names_in(expr) {
            assert!(
                declared.contains(&name),
                "the dashboard asks for {name}, which /metrics does not have ({expr})"
            );
            used.insert(name);
        }
    }
    // And every family has a panel.
    for family in m.types.keys() {
        assert!(
            used.iter().any(|u| u.starts_with(family.as_str())),
            "no panel shows {family}"
        );
    }
    // The data source is a variable, not a fixed instance.
    assert!(
        dashboard["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["type"] == "datasource"),
        "a datasource variable"
    );
}
