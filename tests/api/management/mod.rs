//! The management API from outside: tokens of the `admin` organization's service applications
//! (and of an administrator who signed in), roles per organization, the users' actions and
//! their effect on sign-ins and tokens, versions, problem bodies, the audit log and its `ADMIN`
//! events, and the OpenAPI document.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    Backend, Browser, TestApp, TestDb, location, query_of, stderr, stdout, test_env,
};
use crate::sms_otp::{BOB_PASSWORD, PWD_CB, SECRET, acme_toml, last_code, password_step, submit};

mod access;
mod connections;
mod console;
mod console_pages;
mod credentials;
mod resources;
mod settings;
mod users;

const OPS_SECRET: &str = "an-operations-client-secret-0123456789abcdef";
const CONSOLE_CB: &str = "https://console.example/callback";
/// Service applications of the `admin` organization, by the role each gets over acme
/// (`ops-root`: system; `ops-none`: nothing).
const CLIENTS: [&str; 5] = [
    "ops-viewer",
    "ops-support",
    "ops-admin",
    "ops-none",
    "ops-root",
];

fn api(app: &TestApp) -> String {
    format!("{}/api/v1", app.address)
}

/// acme (password lock after 3 failures) and `other`, plus the `admin` organization with one
/// service application per role and two web applications (`console-test` asks for an SMS code,
/// `console-pwd` for the password only). Roles are granted at the command line.
async fn setup(backend: &Backend) -> TestApp {
    let db = TestDb::new(backend);
    let mut env = test_env(&db.url, db.dir.path());
    // Webhook receivers listen on loopback.
    env.insert("SESAME_OUTBOUND_ALLOW_PRIVATE".into(), "true".into());
    let app = TestApp::spawn_with(db, env).await;
    app.import(&setup_file(&app, ""));
    for (client, role) in [
        ("ops-viewer", "viewer"),
        ("ops-support", "support"),
        ("ops-admin", "admin"),
    ] {
        let out = app.cli(&[
            "admin", "grant", "--client", client, "--org", "acme", "--role", role,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = app.cli(&["admin", "grant", "--client", "ops-root", "--role", "system"]);
    assert!(out.status.success(), "{}", stderr(&out));
    app
}

/// The provisioning file of [`setup`], with `acme_extra` at the end of acme's entry.
fn setup_file(app: &TestApp, acme_extra: &str) -> String {
    let api = api(app);
    let mut file = acme_toml(
        "resend_cooldown_seconds = 0",
        "max_attempts = 3\nduration_seconds = 600",
    );
    file += &format!(
        "\n[[organizations.applications]]\nclient_id = \"acme-svc\"\ntype = \"confidential\"\n\
         client_secret = \"{SECRET}\"\ngrant_types = [\"client_credentials\"]\n"
    );
    file += acme_extra;
    file += "\n[[organizations]]\nslug = \"other\"\ndisplay_name = \"Other\"\n";
    file += &format!(
        "\n[[organizations]]\nslug = \"admin\"\ndisplay_name = \"Administration\"\n\
         [[organizations.resources]]\nidentifier = \"{api}\"\n\
         \n[[organizations.applications]]\nclient_id = \"console-test\"\ntype = \"confidential\"\n\
         client_secret = \"{OPS_SECRET}\"\nredirect_uris = [\"{CONSOLE_CB}\"]\nresources = [\"{api}\"]\n\
         sign_in_flow = \"username_password_sms_otp\"\n\
         \n[[organizations.applications]]\nclient_id = \"console-pwd\"\ntype = \"confidential\"\n\
         client_secret = \"{OPS_SECRET}\"\nredirect_uris = [\"{CONSOLE_CB}\"]\nresources = [\"{api}\"]\n"
    );
    for client in CLIENTS {
        file += &format!(
            "\n[[organizations.applications]]\nclient_id = \"{client}\"\ntype = \"confidential\"\n\
             client_secret = \"{OPS_SECRET}\"\ngrant_types = [\"client_credentials\"]\n\
             resources = [\"{api}\"]\n"
        );
    }
    file
}

/// A client-credentials token of the `admin` organization's `client` for the API.
async fn token(app: &TestApp, client: &str) -> String {
    let res = app
        .client
        .post(format!("{}/token", app.issuer("admin")))
        .basic_auth(client, Some(OPS_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", api(app).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// An answer of the API: status, ETag, content type, body (`null` when empty).
struct Answer {
    status: u16,
    etag: Option<String>,
    media: String,
    body: Value,
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> Answer {
    let mut req = app.client.request(method, format!("{}{path}", api(app)));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let (etag, media) = (header("etag"), header("content-type").unwrap_or_default());
    let text = res.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON from {path}: {text}"))
    };
    Answer {
        status,
        etag,
        media,
        body,
    }
}

async fn user_id(app: &TestApp, token: &str, username: &str) -> String {
    let a = call(
        app,
        Some(token),
        Method::GET,
        &format!("/organizations/acme/users?username={username}"),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == username)
        .unwrap_or_else(|| panic!("{username} in {}", a.body))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The newest audit entries of acme, read as the viewer.
async fn audit(app: &TestApp) -> Vec<Value> {
    let viewer = token(app, "ops-viewer").await;
    let a = call(
        app,
        Some(&viewer),
        Method::GET,
        "/organizations/acme/audit?limit=200",
        None,
        None,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["items"].as_array().unwrap().clone()
}
