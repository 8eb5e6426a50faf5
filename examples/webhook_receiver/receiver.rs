//! The receiver: intent verification, signature checks, forwarding (see `main.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use openssl::hash::MessageDigest;
use openssl::memcmp;
use openssl::pkey::PKey;
use openssl::sign::Signer;

/// How old a delivery may be (its signed timestamp) before it is refused as a replay.
const MAX_AGE_SECONDS: i64 = 300;
const SMS_OTP: &str = "urn:ietf:params:notifications:smsOtp";

#[derive(Debug, Clone)]
pub struct Receiver {
    secret: Vec<u8>,
    topic: String,
    sms_api: String,
    client: reqwest::Client,
    seen: Arc<Mutex<HashSet<String>>>,
}

fn hmac_hex(key: &[u8], data: &[u8]) -> String {
    let pkey = PKey::hmac(key).expect("an HMAC key");
    let mut signer = Signer::new(MessageDigest::sha256(), &pkey).expect("a signer");
    signer.update(data).expect("hashing");
    signer
        .sign_to_vec()
        .expect("a MAC")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && memcmp::eq(a.as_bytes(), b.as_bytes())
}

impl Receiver {
    pub fn new(secret: &str, topic: &str, sms_api: &str) -> Self {
        Self {
            secret: secret.as_bytes().to_vec(),
            topic: topic.to_string(),
            sms_api: sms_api.to_string(),
            client: reqwest::Client::new(),
            seen: Arc::default(),
        }
    }

    /// Both signatures right, and the timestamp recent.
    pub fn verify(&self, headers: &HashMap<String, String>, body: &[u8], now: i64) -> bool {
        let Some(hub) = headers.get("x-hub-signature") else {
            return false;
        };
        let Some(ours) = headers.get("x-sesame-signature") else {
            return false;
        };
        let Some(t) = ours.split(',').find_map(|p| p.strip_prefix("t=")) else {
            return false;
        };
        let Ok(timestamp) = t.parse::<i64>() else {
            return false;
        };
        if (now - timestamp).abs() > MAX_AGE_SECONDS {
            return false;
        }
        let mut stamped = format!("{t}.").into_bytes();
        stamped.extend_from_slice(body);
        let expected = format!("sha256={}", hmac_hex(&self.secret, &stamped));
        equal(hub, &format!("sha256={}", hmac_hex(&self.secret, body)))
            && ours
                .split(',')
                .filter(|p| p.starts_with("sha256="))
                .any(|p| equal(p, &expected))
    }

    async fn handle(&self, req: HttpRequest, body: web::Bytes) -> HttpResponse {
        if req.method() == actix_web::http::Method::GET {
            let query: HashMap<String, String> =
                url::form_urlencoded::parse(req.query_string().as_bytes())
                    .into_owned()
                    .collect();
            return match (query.get("hub.mode"), query.get("hub.topic")) {
                (Some(mode), Some(topic))
                    if (mode == "subscribe" || mode == "unsubscribe") && *topic == self.topic =>
                {
                    HttpResponse::Ok().body(query.get("hub.challenge").cloned().unwrap_or_default())
                }
                _ => HttpResponse::NotFound().finish(),
            };
        }
        let headers: HashMap<String, String> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if !self.verify(&headers, &body, now) {
            return HttpResponse::Unauthorized().body("bad signature");
        }
        let Ok(event) = serde_json::from_slice::<serde_json::Value>(&body) else {
            return HttpResponse::BadRequest().body("not JSON");
        };
        let jti = event["jti"].as_str().unwrap_or_default().to_string();
        if self.seen.lock().expect("lock").contains(&jti) {
            return HttpResponse::NoContent().finish();
        }
        let data = &event["event"][SMS_OTP];
        let (Some(to), Some(message)) = (data["sendTo"].as_str(), data["messageBody"].as_str())
        else {
            // Another event of the topic: nothing to send.
            return HttpResponse::NoContent().finish();
        };
        let sent = self
            .client
            .post(&self.sms_api)
            .header("Idempotency-Key", &jti)
            .json(&serde_json::json!({ "to": to, "text": message }))
            .send()
            .await;
        match sent {
            Ok(res) if res.status().is_success() => {
                self.seen.lock().expect("lock").insert(jti);
                HttpResponse::NoContent().finish()
            }
            // A failure answered with 503: the hub delivers the event again later.
            _ => HttpResponse::ServiceUnavailable().body("the SMS API failed"),
        }
    }
}

/// Serves the receiver on `listen`; returns the bound address.
pub fn serve(
    receiver: Receiver,
    listen: &str,
) -> std::io::Result<(actix_web::dev::Server, std::net::SocketAddr)> {
    let server = HttpServer::new(move || {
        let r = receiver.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let r = r.clone();
            async move { r.handle(req, body).await }
        }))
    })
    .workers(1)
    .bind(listen)?;
    let addr = server.addrs()[0];
    Ok((server.run(), addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_and_old_deliveries_refused() {
        let r = Receiver::new("a-subscriber-secret-0123456789", "t", "http://x");
        let body = br#"{"jti":"1"}"#;
        let t = 1_700_000_000i64;
        let headers = HashMap::from([
            (
                "x-hub-signature".to_string(),
                format!(
                    "sha256={}",
                    hmac_hex(b"a-subscriber-secret-0123456789", body)
                ),
            ),
            (
                "x-sesame-signature".to_string(),
                format!(
                    "t={t},sha256={}",
                    hmac_hex(
                        b"a-subscriber-secret-0123456789",
                        format!("{t}.{}", String::from_utf8_lossy(body)).as_bytes()
                    )
                ),
            ),
        ]);
        assert!(r.verify(&headers, body, t + 10));
        assert!(!r.verify(&headers, br#"{"jti":"2"}"#, t + 10), "tampered");
        assert!(
            !r.verify(&headers, body, t + 3600),
            "a replay an hour later"
        );
    }
}
