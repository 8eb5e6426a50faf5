//! The console's pages beyond settings: users (search, detail, unlock, reset factors, end
//! sessions), the SMS channel with its test message, signing keys, webhooks with their events
//! and deliveries; what a viewer sees and may not do.

use super::console::{console_sign_in, create_alice};
use super::*;
use crate::gateways::Provider;
use crate::helpers::form_field;
use crate::sms_otp::get;
use crate::websub::Subscriber;

/// Posts a console form as the signed-in browser.
async fn post_form(browser: &Browser, url: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    browser.client.post(url).form(fields).send().await.unwrap()
}

/// Text of a page as a browser reads it (the entities the pages' escaping writes).
fn unescaped(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The full URLs of a page's form actions that end with `suffix`.
fn actions_ending(app: &TestApp, html: &str, suffix: &str) -> Vec<String> {
    html.split("action=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(unescaped)
        .filter(|a| a.ends_with(suffix))
        .map(|a| format!("{}{a}", app.address))
        .collect()
}

async fn support_unlocks_resets_and_ends_sessions_from_the_console(backend: Backend) {
    let app = setup(&backend).await;
    let password = create_alice(&app, "support");
    let browser = Browser::default();
    console_sign_in(&app, &browser, "alice", &password).await;
    for _ in 0..3 {
        let res = password_step(&app, &Browser::default(), "pwd-web", "bob", "wrong").await;
        assert_ne!(res.status(), 303);
    }
    let res = password_step(&app, &Browser::default(), "pwd-web", "bob", BOB_PASSWORD).await;
    assert_eq!(res.status(), 403, "locked");

    let users = format!("{}/console/o/acme/users", app.address);
    let (status, html) = get(&browser, &users).await;
    assert_eq!(status, 200);
    assert!(html.contains(">bob</a>"), "{html}");
    let (status, html) = get(&browser, &format!("{users}?q=%2B3361")).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("No user matches"),
        "a number nobody has: {html}"
    );
    let (status, html) = get(&browser, &format!("{users}?q=bo")).await;
    assert_eq!(status, 200);
    let support = token(&app, "ops-support").await;
    let bob = user_id(&app, &support, "bob").await;
    let page_url = format!("{users}/{bob}");
    assert!(
        html.contains(&format!("/o/acme/users/{bob}\">bob</a>")),
        "{html}"
    );

    let (status, html) = get(&browser, &page_url).await;
    assert_eq!(status, 200);
    assert!(html.contains("Locked until"), "{html}");
    let csrf = form_field(&html, "csrf").unwrap();
    let version = form_field(&html, "version").unwrap();
    // Someone changes bob meanwhile: the page's version is gone, nothing is done.
    let admin = token(&app, "ops-admin").await;
    let a = call(
        &app,
        Some(&admin),
        Method::PATCH,
        &format!("/organizations/acme/users/{bob}"),
        Some(json!({"email": "bob@acme.example"})),
        Some("*"),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let action = |name: &'static str, version: String, csrf: String| {
        let (browser, url) = (&browser, page_url.clone());
        async move {
            post_form(
                browser,
                &url,
                &[("csrf", &csrf), ("version", &version), ("action", name)],
            )
            .await
        }
    };
    let res = action("unlock", version, csrf.clone()).await;
    assert_eq!(res.status(), 409);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("changed since") && html.contains("Locked until"),
        "{html}"
    );
    let version = form_field(&html, "version").unwrap();
    assert_eq!(
        action("unlock", version.clone(), "forged".into())
            .await
            .status(),
        403
    );
    let res = action("unlock", version, csrf.clone()).await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let (status, html) = get(&browser, &location(&res)).await;
    assert_eq!(status, 200);
    assert!(
        html.contains("was unlocked") && html.contains("Not locked"),
        "{html}"
    );
    let res = password_step(&app, &Browser::default(), "pwd-web", "bob", BOB_PASSWORD).await;
    assert_eq!(res.status(), 303, "bob signs in again");

    // Resetting the factors takes the number and the backup codes.
    let version = form_field(&html, "version").unwrap();
    let res = action("reset-factors", version, csrf.clone()).await;
    assert_eq!(res.status(), 303);
    let (_, html) = get(&browser, &location(&res)).await;
    assert!(html.contains("second factors were removed"), "{html}");
    let a = call(
        &app,
        Some(&support),
        Method::GET,
        &format!("/organizations/acme/users/{bob}"),
        None,
        None,
    )
    .await;
    assert!(a.body["phone_number"].is_null(), "{}", a.body);
    assert_eq!(a.body["backup_codes_remaining"], 0);
    let version = form_field(&html, "version").unwrap();
    let res = action("end-sessions", version, csrf).await;
    assert_eq!(res.status(), 303);
    let (_, html) = get(&browser, &location(&res)).await;
    assert!(html.contains("Every session of this user ended"), "{html}");
    let actions: Vec<String> = audit(&app)
        .await
        .iter()
        .filter(|e| e["entity_id"] == bob.as_str())
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    for done in ["user.unlock", "user.reset_factors", "user.end_sessions"] {
        assert!(actions.iter().any(|a| a == done), "{done}: {actions:?}");
    }
    // No form of the console changes the account: support acts, it does not edit.
    assert!(!html.contains("name=\"email\""), "{html}");
}

async fn a_viewer_reads_every_page_and_acts_nowhere(backend: Backend) {
    let app = setup(&backend).await;
    let password = create_alice(&app, "viewer");
    let browser = Browser::default();
    console_sign_in(&app, &browser, "alice", &password).await;
    let support = token(&app, "ops-support").await;
    let bob = user_id(&app, &support, "bob").await;
    let base = format!("{}/console/o/acme", app.address);
    let (_, html) = get(&browser, &format!("{base}/users/{bob}")).await;
    assert!(html.contains("not act on the account") && !html.contains("value=\"unlock\""));
    let csrf = form_field(&html, "csrf").unwrap();
    for page in ["users", "sms-channel", "webhooks", "keys", "audit"] {
        let (status, html) = get(&browser, &format!("{base}/{page}")).await;
        assert_eq!(status, 200, "{page}: {html}");
        assert!(
            !html.contains("class=\"primary\""),
            "{page} offers no change: {html}"
        );
    }
    for (path, fields) in [
        (
            format!("users/{bob}"),
            vec![("version", "1"), ("action", "unlock")],
        ),
        (
            "sms-channel/test".to_string(),
            vec![("phone_number", "+447400900123")],
        ),
        ("keys/rotate".to_string(), vec![]),
        (
            "webhooks".to_string(),
            vec![
                ("topic", "ADMIN"),
                ("callback", "https://x.example/"),
                ("secret", "a-secret-0123456789"),
            ],
        ),
    ] {
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend(fields);
        let res = post_form(&browser, &format!("{base}/{path}"), &all).await;
        assert_eq!(res.status(), 403, "{path}");
    }
    assert!(
        app.sms
            .sent()
            .iter()
            .all(|s| !s.body.contains("Test message"))
    );
}

async fn the_sms_channel_page_tests_the_gateway_and_saves_the_section(backend: Backend) {
    let app = setup(&backend).await;
    let password = create_alice(&app, "admin");
    let browser = Browser::default();
    console_sign_in(&app, &browser, "alice", &password).await;
    let page_url = format!("{}/console/o/acme/sms-channel", app.address);
    let (status, html) = get(&browser, &page_url).await;
    assert_eq!(status, 200);
    assert!(html.contains("printed on the server's console"), "{html}");
    let csrf = form_field(&html, "csrf").unwrap();
    let version = form_field(&html, "version").unwrap();
    let test = format!("{page_url}/test");
    let res = post_form(
        &browser,
        &test,
        &[("csrf", &csrf), ("phone_number", "+44 7400 900123")],
    )
    .await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("A test message went to ********0123 through capture#0"),
        "{html}"
    );
    let sent = app.sms.sent();
    assert_eq!(sent.last().unwrap().to, "+447400900123");
    assert!(
        sent.last()
            .unwrap()
            .body
            .contains("Test message from Sesame")
    );
    let res = post_form(
        &browser,
        &test,
        &[("csrf", &csrf), ("phone_number", "12345")],
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("phone_number"));

    // Not JSON: refused with the text kept.
    let res = post_form(
        &browser,
        &page_url,
        &[
            ("csrf", &csrf),
            ("version", &version),
            ("sms", "{\"channel\": "),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("not JSON") && html.contains("aria-invalid=\"true\""),
        "{html}"
    );
    // A gateway that refuses: saved, then its test message fails with the gateway's reason.
    let (provider, base) = Provider::start().await;
    provider.answer(401, r#"{"error":"bad key"}"#);
    let section = json!({"channel": "gateways", "gateways": [{"type": "http", "url": format!("{base}/send"),
        "headers": {"Authorization": "Bearer k3y-0123456789"},
        "body_template": "{\"to\":\"{to}\",\"text\":\"{message}\"}"}]});
    let res = post_form(
        &browser,
        &page_url,
        &[
            ("csrf", &csrf),
            ("version", &version),
            ("sms", &section.to_string()),
        ],
    )
    .await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let (_, html) = get(&browser, &location(&res)).await;
    assert!(
        html.contains("SMS channel was updated") && html.contains("http#0"),
        "{html}"
    );
    assert!(
        !html.contains("k3y-0123456789") && html.contains("[redacted]"),
        "secrets stay write-only: {html}"
    );
    // Sent back as read, the redacted header keeps its value.
    let text = html
        .split("name=\"sms\"")
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split_once("</textarea>"))
        .map(|(text, _)| unescaped(text))
        .expect("the section's text");
    let version = form_field(&html, "version").unwrap();
    let res = post_form(
        &browser,
        &page_url,
        &[("csrf", &csrf), ("version", &version), ("sms", &text)],
    )
    .await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let res = post_form(
        &browser,
        &test,
        &[("csrf", &csrf), ("phone_number", "+44 7400 900123")],
    )
    .await;
    assert_eq!(res.status(), 502);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("did not take the message")
    );
    let received = provider.received();
    assert_eq!(received.len(), 1);
    assert!(
        received[0]
            .headers
            .values()
            .any(|v| v.contains("k3y-0123456789")),
        "the header kept its value: {:?}",
        received[0].headers
    );
}

async fn keys_and_webhooks_are_managed_in_the_console(backend: Backend) {
    let app = setup(&backend).await;
    let password = create_alice(&app, "admin");
    let browser = Browser::default();
    console_sign_in(&app, &browser, "alice", &password).await;
    let base = format!("{}/console/o/acme", app.address);

    // A webhook of the ADMIN topic: refused first (short secret) with the values kept.
    let (subscriber, callback) = Subscriber::start().await;
    let (_, html) = get(&browser, &format!("{base}/webhooks")).await;
    assert!(html.contains("No webhook subscribes"), "{html}");
    let csrf = form_field(&html, "csrf").unwrap();
    let hooks = format!("{base}/webhooks");
    let res = post_form(
        &browser,
        &hooks,
        &[
            ("csrf", &csrf),
            ("topic", "ADMIN"),
            ("callback", &callback),
            ("secret", "short"),
            ("lease_seconds", ""),
        ],
    )
    .await;
    assert_eq!(res.status(), 400);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("secret") && unescaped(&html).contains(&format!("value=\"{callback}\"")),
        "{html}"
    );
    let res = post_form(
        &browser,
        &hooks,
        &[
            ("csrf", &csrf),
            ("topic", "ADMIN"),
            ("callback", &callback),
            ("secret", "a-webhook-secret-0123456789"),
            ("lease_seconds", ""),
        ],
    )
    .await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    crate::deliveries::eventually("the subscription active", || {
        crate::deliveries::active_subscriptions(&app) == 1
    })
    .await;

    // Keys (made when first used): rotate ES256 at once; the old ES256 key stays published
    // and can be retired.
    app.jwks("acme").await;
    let keys = format!("{base}/keys");
    let (_, html) = get(&browser, &keys).await;
    let before = html.matches("<td>ES256</td>").count();
    assert!(before >= 1, "{html}");
    let res = post_form(
        &browser,
        &format!("{keys}/rotate"),
        &[("csrf", &csrf), ("alg", "ES256"), ("now", "true")],
    )
    .await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let (_, html) = get(&browser, &location(&res)).await;
    assert!(html.contains("sign at once"), "{html}");
    assert_eq!(html.matches("<td>ES256</td>").count(), before + 1, "{html}");
    let retire = actions_ending(&app, &html, "/retire");
    assert!(!retire.is_empty(), "a published key to retire: {html}");
    let res = post_form(&browser, &retire[0], &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let (_, html) = get(&browser, &location(&res)).await;
    assert!(
        html.contains("The key was retired") && html.contains("retired <time"),
        "{html}"
    );
    // A key rotated in and waiting to sign is not offered for retirement.
    let res = post_form(
        &browser,
        &format!("{keys}/rotate"),
        &[("csrf", &csrf), ("alg", "RS256")],
    )
    .await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    let (_, html) = get(&browser, &location(&res)).await;
    assert!(html.contains("signs from"), "{html}");
    assert!(actions_ending(&app, &html, "/retire").is_empty(), "{html}");

    // The rotation's ADMIN event reached the subscriber; delivered again on request.
    crate::deliveries::eventually("the rotation's event at the subscriber", || {
        subscriber.bodies().iter().any(|b| b.contains("key.rotate"))
    })
    .await;
    let (_, html) = get(&browser, &hooks).await;
    assert!(html.contains("delivered"), "{html}");
    let rotation = subscriber
        .bodies()
        .iter()
        .position(|b| b.contains("key.rotate"))
        .map(|i| subscriber.event_ids()[i].clone())
        .unwrap();
    let redeliver = actions_ending(&app, &html, &format!("/events/{rotation}/redeliver"));
    assert_eq!(redeliver.len(), 1, "{html}");
    let res = post_form(&browser, &redeliver[0], &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303, "{:?}", res.text().await);
    crate::deliveries::eventually("the rotation's event delivered twice", || {
        subscriber
            .event_ids()
            .iter()
            .filter(|id| **id == rotation)
            .count()
            == 2
    })
    .await;

    // Removed, it hears nothing more.
    let (_, html) = get(&browser, &hooks).await;
    let delete = actions_ending(&app, &html, "/delete");
    assert_eq!(delete.len(), 1, "{html}");
    let res = post_form(&browser, &delete[0], &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), 303);
    let (_, html) = get(&browser, &location(&res)).await;
    assert!(
        html.contains("The webhook was removed") && html.contains("No webhook subscribes"),
        "{html}"
    );
    let log = audit(&app).await;
    for done in [
        "webhook.create",
        "key.rotate",
        "key.retire",
        "event.redeliver",
        "webhook.delete",
    ] {
        assert!(
            log.iter()
                .any(|e| e["action"] == done && e["via"] == "console"),
            "{done}: {log:?}"
        );
    }
}

both_backends!(
    support_unlocks_resets_and_ends_sessions_from_the_console,
    a_viewer_reads_every_page_and_acts_nowhere,
    the_sms_channel_page_tests_the_gateway_and_saves_the_section,
    keys_and_webhooks_are_managed_in_the_console,
);
