//! SMS delivery receipts end to end: Twilio's signed status callbacks and the HTTP gateway's
//! HMAC-signed JSON receipts posted to `{issuer}/sms/status/{type}`, what the code's page (and
//! its delivery frame) shows, and the event published. The providers are the real HTTP servers
//! of the gateway tests.

use std::collections::HashMap;

use crate::both_backends;
use crate::gateways::{Provider, code_in, http, otp_page, spawn, twilio, with_sms};
use crate::helpers::{Backend, Browser, TestApp};
use crate::sms_otp::{MFA_CB, code_at, get, submit};

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
    crate::websub::hmac_hex(key.as_bytes(), body.as_bytes())
}

/// The shared secret of the tests' HTTP gateway receipts.
const RECEIPT_KEY: &str = "receipts-shared-secret-0123456789";

/// Posts a JSON receipt to acme's HTTP gateway status URL, signed (hex HMAC-SHA256 in
/// `X-Signature`) with `key`.
async fn post_http_receipt(app: &TestApp, key: &str, body: &str) -> (u16, String) {
    let url = format!("{}/sms/status/http", app.issuer("acme"));
    let mac = hmac_sha256_hex(key, body);
    post_receipt(&url, "application/json", Some(("X-Signature", &mac)), body).await
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
    // No gateway of that kind here: the same answer as a bad signature, so probing does not
    // tell which providers the organization uses; a type Sesame does not know is not found.
    let (status, not_here) = post_receipt(
        &format!("{}/sms/status/http", app.issuer("acme")),
        form_type,
        None,
        failed,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(not_here, post(failed, None).await.1);
    let (status, _) = post_receipt(
        &format!("{}/sms/status/pigeon", app.issuer("acme")),
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
    let (status, body) = post_http_receipt(&app, "not-the-shared-secret-0123456789", failed).await;
    assert_eq!(status, 401, "{body}");
    assert!(!get(&browser, &otp_url).await.1.contains(UNDELIVERED));
    // Signed, but not a receipt.
    let junk = "not json";
    let (status, body) = post_http_receipt(&app, RECEIPT_KEY, junk).await;
    assert_eq!(status, 400, "{body}");
    // Over the size limit.
    let big = "x".repeat(17 * 1024);
    assert_eq!(post_receipt(&status_url, json, None, &big).await.0, 413);

    let signature = format!("sha256={}", hmac_sha256_hex(RECEIPT_KEY, failed));
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

/// An HTTP gateway taking receipts signed with `secret_file`'s key (TOML, after the gateway).
fn receipts_of(secret_file: &std::path::Path) -> String {
    format!(
        "[organizations.sms.gateways.receipts]\nsecret = {{ file = \"{}\" }}\n\
         message_id_pointer = \"/data/id\"\nstatus_pointer = \"/data/state\"\n",
        secret_file.display()
    )
}

/// A provider may report a rejection before the sending node has recorded the message's id:
/// the receipt is kept and applied when the id is recorded.
async fn a_receipt_that_comes_before_its_message_id_is_applied_when_it_is_recorded(
    backend: Backend,
) {
    let (provider, base) = Provider::start().await;
    let app = spawn(&backend).await;
    let secret = app.write_file("receipt-secret", RECEIPT_KEY);
    app.import(&with_sms(
        &app,
        &format!(
            "[organizations.sms]\nchannel = \"gateways\"\n{}{}",
            http(&base),
            receipts_of(&secret)
        ),
    ));
    let failed = r#"{"data":{"id":"msg-early","state":"failed"}}"#;
    let (status, body) = post_http_receipt(&app, RECEIPT_KEY, failed).await;
    assert_eq!(status, 204, "{body}");
    assert!(undelivered_events(&app).is_empty(), "no code has it yet");
    // The provider sends it again: still taken (the first kept wins).
    let (status, body) = post_http_receipt(&app, RECEIPT_KEY, failed).await;
    assert_eq!(status, 204, "{body}");
    provider.answer(200, r#"{"id": "msg-early"}"#);
    let browser = Browser::default();
    let (otp_url, status, html) = otp_page(&app, &browser).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(UNDELIVERED),
        "applied as the id was recorded: {html}"
    );
    assert!(!html.contains("<iframe"), "{html}");
    assert_eq!(undelivered_events(&app).len(), 1);
    assert!(get(&browser, &otp_url).await.1.contains(UNDELIVERED));
}

/// Two HTTP gateways (two accounts with their own secrets): one's receipts do not speak of the
/// other's messages, even with the same id.
async fn a_receipt_applies_only_to_the_messages_of_the_gateway_that_signed_it(backend: Backend) {
    let (first, base1) = Provider::start().await;
    let (second, base2) = Provider::start().await;
    let app = spawn(&backend).await;
    let secret1 = app.write_file("receipt-secret-1", "first-gateway-secret-0123456789");
    let secret2 = app.write_file("receipt-secret-2", "second-gateway-secret-012345678");
    app.import(&with_sms(
        &app,
        &format!(
            "[organizations.sms]\nchannel = \"gateways\"\n{}{}{}{}",
            http(&base1),
            receipts_of(&secret1),
            http(&base2),
            receipts_of(&secret2)
        ),
    ));
    // The first is down: the second sends, and its provider calls the message "m-1".
    first.set_down(true);
    second.answer(200, r#"{"id": "m-1"}"#);
    let browser = Browser::default();
    let (otp_url, status, _) = otp_page(&app, &browser).await;
    assert_eq!(status, 200);
    assert_eq!(second.received().len(), 1);
    let failed = r#"{"data":{"id":"m-1","state":"failed"}}"#;
    // Signed by the first account: taken as about the first gateway's "m-1", not this one.
    let first_key = "first-gateway-secret-0123456789";
    assert_eq!(post_http_receipt(&app, first_key, failed).await.0, 204);
    assert!(!get(&browser, &otp_url).await.1.contains(UNDELIVERED));
    assert!(undelivered_events(&app).is_empty());
    // Signed by the second: this code.
    let second_key = "second-gateway-secret-012345678";
    assert_eq!(post_http_receipt(&app, second_key, failed).await.0, 204);
    assert!(get(&browser, &otp_url).await.1.contains(UNDELIVERED));
    assert_eq!(undelivered_events(&app).len(), 1);
}

/// The JSON sign-in API says the same as the page: `awaiting_receipt` while a receipt may
/// come, then `undelivered`.
async fn the_json_sign_in_api_reports_an_undelivered_code(backend: Backend) {
    use crate::native::{CB, start_with, step};
    let (provider, base) = Provider::start().await;
    let app = spawn(&backend).await;
    let secret = app.write_file("receipt-secret", RECEIPT_KEY);
    let native = format!(
        "\n[[organizations.applications]]\nclient_id = \"native\"\ntype = \"public\"\n\
         app_native = true\nsign_in_flow = [[\"password\"], [\"sms_otp\", \"backup_code\"]]\n\
         backup_codes = true\nredirect_uris = [\"{CB}\"]\n"
    );
    app.import(&format!(
        "{}{native}",
        with_sms(
            &app,
            &format!(
                "[organizations.sms]\nchannel = \"gateways\"\n{}{}",
                http(&base),
                receipts_of(&secret)
            ),
        )
    ));
    let (status, started) = start_with(&app, "native", &[]).await;
    assert_eq!(status, 200, "{started}");
    provider.answer(200, r#"{"id": "msg-api"}"#);
    let (status, next) = step(
        &app,
        &started["flowId"],
        "password",
        serde_json::json!({"username": "bob", "password": crate::sms_otp::BOB_PASSWORD}),
    )
    .await;
    assert_eq!(status, 200, "{next}");
    let otp = &next["nextStep"]["sms_otp"];
    assert_eq!(otp["sent"], true, "{next}");
    assert_eq!(otp["awaiting_receipt"], true, "{next}");
    assert_eq!(otp["undelivered"], false, "{next}");
    let failed = r#"{"data":{"id":"msg-api","state":"failed"}}"#;
    assert_eq!(post_http_receipt(&app, RECEIPT_KEY, failed).await.0, 204);
    let (status, again) = step(&app, &next["flowId"], "sms_otp", serde_json::json!({})).await;
    assert_eq!(status, 200, "{again}");
    let otp = &again["nextStep"]["sms_otp"];
    assert_eq!(otp["undelivered"], true, "{again}");
    assert_eq!(otp["awaiting_receipt"], false, "{again}");
}

both_backends!(the_json_sign_in_api_reports_an_undelivered_code);

both_backends!(
    a_receipt_that_comes_before_its_message_id_is_applied_when_it_is_recorded,
    a_receipt_applies_only_to_the_messages_of_the_gateway_that_signed_it,
);

both_backends!(
    twilio_status_callbacks_mark_a_code_undelivered,
    http_gateway_receipts_are_checked_with_the_shared_secret,
    a_code_no_gateway_would_send_shows_as_undelivered,
);
