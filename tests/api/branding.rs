//! An organization's branding on its pages — the logo (served by Sesame itself), the primary
//! colour and the support link — under the strict CSP, checked at import; and the templates
//! directory replacing built-in pages, a broken template stopping start-up with the file and
//! line.

use std::collections::HashMap;

use base64::Engine;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, TestDb, cli, location, stderr, test_env};

/// A 1×1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
const CB: &str = "https://web.acme.example/cb";

fn toml(branding: &str) -> String {
    format!(
        r#"
[[organizations]]
slug = "acme"
display_name = "Acme Corp"
[organizations.branding]
{branding}

[[organizations.applications]]
client_id = "web"
name = "Acme Web"
type = "public"
redirect_uris = ["{CB}"]

[[organizations]]
slug = "plain"
display_name = "Plain Org"

[[organizations.applications]]
client_id = "web"
name = "Plain Web"
type = "public"
redirect_uris = ["{CB}"]
"#
    )
}

/// The sign-in page of `org`'s application `web`: its CSP and HTML.
async fn sign_in_page(app: &TestApp, org: &str) -> (String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let mut url = url::Url::parse(&format!("{}/authorize", app.issuer(org))).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "web")
        .append_pair("redirect_uri", CB)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "st")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    let res = client.get(url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let res = client.get(location(&res)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    (csp, res.text().await.unwrap())
}

fn unescape(attr: &str) -> String {
    attr.replace("&#x2f;", "/").replace("&amp;", "&")
}

async fn branding_shows_on_pages_under_the_strict_csp(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.import(&toml(&format!(
        "logo = \"data:image/png;base64,{PNG}\"\nprimary_color = \"#0b6e4f\"\nsupport_url = \"https://help.acme.example/\""
    )));
    let (csp, html) = sign_in_page(&app, "acme").await;
    assert!(
        csp.starts_with("default-src 'none'") && csp.contains("img-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("script-src"), "{csp}");
    assert!(html.contains("background: #0b6e4f"), "{html}");
    assert!(!html.contains("#2456d3"), "the default colour is gone");
    assert!(
        html.contains("Need help? Contact Acme Corp support")
            && unescape(&html).contains("href=\"https://help.acme.example/\""),
        "{html}"
    );
    let marker = "<img class=\"brand\" src=\"";
    let start = html.find(marker).expect("the logo") + marker.len();
    let src = unescape(&html[start..start + html[start..].find('"').unwrap()]);
    assert!(
        src.starts_with(&format!("{}/branding/logo?v=", app.issuer("acme"))),
        "{src}"
    );
    assert!(html.contains("alt=\"Acme Corp\""), "{html}");

    // The logo is served by Sesame, as stored, and runs nothing even opened alone.
    let res = app.client.get(&src).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    let png = base64::engine::general_purpose::STANDARD
        .decode(PNG)
        .unwrap();
    assert_eq!(res.bytes().await.unwrap().to_vec(), png);

    // Another organization keeps Sesame's look, and has no logo to serve.
    let (_, html) = sign_in_page(&app, "plain").await;
    assert!(!html.contains("class=\"brand\""), "{html}");
    assert!(
        html.contains("#2456d3") && !html.contains("Need help?"),
        "{html}"
    );
    let res = app
        .client
        .get(format!("{}/branding/logo", app.issuer("plain")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);

    // Bad branding is refused at import, naming the field and why.
    for (branding, says) in [
        ("primary_color = \"#ffd700\"", "too light"),
        ("primary_color = \"red\"", "#rrggbb"),
        ("support_url = \"javascript:alert(1)\"", "support_url"),
        ("logo = \"https://cdn.example/logo.png\"", "data URL"),
        (
            "logo = \"data:image/svg+xml;base64,PGh0bWw+\"",
            "not image/svg+xml",
        ),
    ] {
        let path = app.write_file("bad.toml", &toml(branding));
        let out = app.cli(&["import", path.to_str().unwrap()]);
        assert!(!out.status.success(), "{branding}");
        let err = stderr(&out);
        assert!(
            err.contains("branding") && err.contains(says),
            "{branding}: {err}"
        );
    }
}

/// A directory with `files`, inside the test's folder.
fn templates(test_db: &TestDb, name: &str, files: &[(&str, &str)]) -> String {
    let dir = test_db.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir.display().to_string()
}

async fn a_templates_directory_replaces_pages_and_a_broken_one_stops_start_up(backend: Backend) {
    let test_db = TestDb::new(&backend);
    let mut env: HashMap<String, String> = test_env(&test_db.url, test_db.dir.path());

    // A broken template: start-up stops, naming the setting, the file and the line.
    let broken = templates(
        &test_db,
        "broken",
        &[(
            "login.html",
            "{% extends \"base.html\" %}\n{% block content %}\n{% if %}{% endblock %}",
        )],
    );
    env.insert("SESAME_TEMPLATES_DIR".into(), broken);
    let out = cli(&env, &["serve"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("templates_dir") && err.contains("login.html") && err.contains("line 3"),
        "{err}"
    );
    // One that parses but cannot render either.
    let unrenderable = templates(
        &test_db,
        "unrenderable",
        &[(
            "otp.html",
            "{% extends \"base.html\" %}\n{% block content %}\n{{ 1 | nosuchfilter }}{% endblock %}",
        )],
    );
    env.insert("SESAME_TEMPLATES_DIR".into(), unrenderable);
    let err = stderr(&cli(&env, &["serve"]));
    assert!(
        err.contains("otp.html line 3") && err.contains("nosuchfilter"),
        "{err}"
    );
    // A file that replaces nothing is a mistake too.
    let unknown = templates(&test_db, "unknown", &[("signin.html", "hello")]);
    env.insert("SESAME_TEMPLATES_DIR".into(), unknown);
    let err = stderr(&cli(&env, &["serve"]));
    assert!(
        err.contains("signin.html") && err.contains("not the name"),
        "{err}"
    );

    let good = templates(
        &test_db,
        "good",
        &[(
            "login.html",
            "{% extends \"base.html\" %}{% block content %}<h1>Welcome to {{ app_name }}, the Acme way</h1>{% endblock %}",
        )],
    );
    env.insert("SESAME_TEMPLATES_DIR".into(), good);
    let app = TestApp::spawn_with(test_db, env).await;
    app.import(&toml(""));
    let (csp, html) = sign_in_page(&app, "acme").await;
    assert!(
        html.contains("<h1>Welcome to Acme Web, the Acme way</h1>"),
        "{html}"
    );
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
}

both_backends!(
    branding_shows_on_pages_under_the_strict_csp,
    a_templates_directory_replaces_pages_and_a_broken_one_stops_start_up
);
