//! A generic HTTP SMS gateway: one request per message to a configured URL, with a body made
//! from a template (`{to}`, `{message}`, `{sender}`, `{idempotency_key}`), headers, basic or bearer
//! authentication, and the statuses that count as success.
//!
//! Delivery receipts (`[…receipts]`): the provider posts a JSON body to the status URL
//! (`{status_url}` in the templates), signed with HMAC-SHA256 under a shared secret; the
//! configuration says where the message id and the status are in the body, and which statuses
//! mean delivered and failed.

use std::collections::BTreeMap;

use base64::Engine;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sesame_plugin_api::{
    BoxFuture, Delivery, Outbound, OutboundError, Receipt, ReceiptError, ReceiptRequest, SecretRef,
    SendError, Sms, SmsGateway,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub url: String,
    /// `POST` (default) or `PUT`.
    #[serde(default = "default_method")]
    pub method: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body. Values are escaped for the content type: JSON string escaping for
    /// `application/json` (write `"{message}"` in the template), form encoding for
    /// `application/x-www-form-urlencoded`.
    pub body_template: String,
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// The sender id `{sender}` stands for.
    #[serde(default)]
    pub sender_id: String,
    pub auth: Option<Auth>,
    /// Statuses that mean "sent"; any 2xx when empty.
    #[serde(default)]
    pub success_statuses: Vec<u16>,
    /// A JSON pointer to the provider's message id in the response (e.g. `/id`).
    pub message_id_pointer: Option<String>,
    /// A header that carries the idempotency key, for providers that take one.
    pub idempotency_header: Option<String>,
    /// Delivery receipts the provider posts to Sesame; none taken when absent.
    pub receipts: Option<Receipts>,
}

/// How the provider's delivery receipts are checked and read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipts {
    /// The key of the HMAC-SHA256 the provider signs each receipt's body with.
    pub secret: SecretRef,
    /// The header with the signature: the HMAC in hex or base64, `sha256=` before it or not.
    #[serde(default = "default_signature_header")]
    pub signature_header: String,
    /// JSON pointers to the message id (the one `message_id_pointer` read from the answer to
    /// the send) and to the status in the receipt's body.
    pub message_id_pointer: String,
    pub status_pointer: String,
    /// Statuses that mean the text arrived…
    #[serde(default = "default_delivered")]
    pub delivered: Vec<String>,
    /// …and that it never will; any other status means it is still on its way.
    #[serde(default = "default_failed")]
    pub failed: Vec<String>,
}

fn default_signature_header() -> String {
    "X-Signature".into()
}

fn default_delivered() -> Vec<String> {
    vec!["delivered".into()]
}

fn default_failed() -> Vec<String> {
    ["failed", "undelivered", "rejected", "expired"]
        .map(String::from)
        .to_vec()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    Basic {
        username: String,
        password: SecretRef,
    },
    Bearer {
        token: SecretRef,
    },
}

fn default_method() -> String {
    "POST".into()
}

fn default_content_type() -> String {
    "application/json".into()
}

#[derive(Debug)]
enum ResolvedAuth {
    None,
    Basic(String, String),
    Bearer(String),
}

#[derive(Debug)]
pub struct HttpGateway {
    config: Config,
    method: reqwest::Method,
    auth: ResolvedAuth,
    /// The receipts' HMAC key, read at start.
    receipt_secret: Option<String>,
    outbound: Outbound,
}

impl HttpGateway {
    /// Checks the configuration and reads its secrets.
    pub fn new(config: Config, outbound: Outbound) -> Result<Self, String> {
        outbound
            .check_url(&config.url)
            .map_err(|e| format!("url: {e}"))?;
        let method = match config.method.to_ascii_uppercase().as_str() {
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            other => return Err(format!("method: {other} is not POST or PUT")),
        };
        if !config.body_template.contains("{message}") {
            return Err("body_template: must contain {message}".into());
        }
        if config.url.contains("{message}") {
            return Err(
                "url: {message} may not be in the URL (URLs end up in error messages and logs)"
                    .into(),
            );
        }
        if !config.body_template.contains("{to}") && !config.url.contains("{to}") {
            return Err("body_template: must contain {to} (or the url must)".into());
        }
        let auth = match &config.auth {
            None => ResolvedAuth::None,
            Some(Auth::Basic { username, password }) => ResolvedAuth::Basic(
                username.clone(),
                password
                    .resolve()
                    .map_err(|e| format!("auth.password: {e}"))?,
            ),
            Some(Auth::Bearer { token }) => {
                ResolvedAuth::Bearer(token.resolve().map_err(|e| format!("auth.token: {e}"))?)
            }
        };
        let receipt_secret = match &config.receipts {
            None => None,
            Some(r) => {
                if config.message_id_pointer.is_none() {
                    return Err("receipts: needs message_id_pointer (receipts name the \
                                provider's id of each message)"
                        .into());
                }
                for (field, pointer) in [
                    ("message_id_pointer", &r.message_id_pointer),
                    ("status_pointer", &r.status_pointer),
                ] {
                    if !pointer.starts_with('/') {
                        return Err(format!(
                            "receipts.{field}: a JSON pointer starts with / (e.g. /status)"
                        ));
                    }
                }
                if reqwest::header::HeaderName::from_bytes(r.signature_header.as_bytes()).is_err() {
                    return Err("receipts.signature_header: not a header name".into());
                }
                let secret = r
                    .secret
                    .resolve()
                    .map_err(|e| format!("receipts.secret: {e}"))?;
                if secret.len() < 16 {
                    return Err("receipts.secret: use at least 16 characters".into());
                }
                Some(secret)
            }
        };
        Ok(Self {
            config,
            method,
            auth,
            receipt_secret,
            outbound,
        })
    }

    /// The body for one message.
    pub fn render(&self, sms: &Sms<'_>) -> String {
        let escape = |value: &str| -> String {
            match self.config.content_type.as_str() {
                "application/json" => {
                    let quoted = serde_json::to_string(value).expect("strings serialize");
                    quoted[1..quoted.len() - 1].to_string()
                }
                "application/x-www-form-urlencoded" => {
                    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
                }
                _ => value.to_string(),
            }
        };
        fill(
            &self.config.body_template,
            sms,
            &self.config.sender_id,
            escape,
        )
    }
}

/// Replaces the placeholders in one pass, so a message containing `{to}` is not expanded again.
fn fill(template: &str, sms: &Sms<'_>, sender: &str, escape: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len() + sms.body.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let (value, len) = if after.starts_with("{to}") {
            (Some(sms.to), 4)
        } else if after.starts_with("{message}") {
            (Some(sms.body), 9)
        } else if after.starts_with("{sender}") {
            (Some(sender), 8)
        } else if after.starts_with("{idempotency_key}") {
            (Some(sms.idempotency_key), 17)
        } else if after.starts_with("{status_url}") {
            (Some(sms.status_url.unwrap_or("")), 12)
        } else {
            (None, 1)
        };
        match value {
            Some(v) => out.push_str(&escape(v)),
            None => out.push('{'),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

impl SmsGateway for HttpGateway {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn send<'a>(&'a self, sms: Sms<'a>) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(async move {
            let url = fill(&self.config.url, &sms, &self.config.sender_id, |v| {
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
            });
            // Errors name the URL template, never the filled URL: with `{to}` or `{message}` in
            // it, that holds the number and the code, and errors reach logs and `events list`.
            let template = &self.config.url;
            let redact = |e: OutboundError| -> SendError {
                match e {
                    OutboundError::Refused(_) => OutboundError::Refused(template.clone()),
                    OutboundError::NotHttps(_) => OutboundError::NotHttps(template.clone()),
                    OutboundError::Failed { reason, .. } => OutboundError::Failed {
                        url: template.clone(),
                        reason,
                    },
                }
                .into()
            };
            let mut request = self
                .outbound
                .request(self.method.clone(), &url)
                .map_err(redact)?
                .header("Content-Type", &self.config.content_type)
                .body(self.render(&sms));
            for (name, value) in &self.config.headers {
                request = request.header(name, value);
            }
            if let Some(name) = &self.config.idempotency_header {
                request = request.header(name, sms.idempotency_key);
            }
            request = match &self.auth {
                ResolvedAuth::None => request,
                ResolvedAuth::Basic(user, password) => request.basic_auth(user, Some(password)),
                ResolvedAuth::Bearer(token) => request.bearer_auth(token),
            };
            let (status, body) = self.outbound.send_capped(request).await.map_err(redact)?;
            let ok = if self.config.success_statuses.is_empty() {
                status.is_success()
            } else {
                self.config.success_statuses.contains(&status.as_u16())
            };
            if !ok {
                // The provider's body is not quoted: some echo the message, which holds the code.
                return Err(SendError::from_status(
                    status.as_u16(),
                    "the provider refused the message",
                ));
            }
            let id = self
                .config
                .message_id_pointer
                .as_deref()
                .and_then(|p| {
                    let json: serde_json::Value = serde_json::from_slice(&body).ok()?;
                    match json.pointer(p)? {
                        serde_json::Value::String(s) => Some(s.clone()),
                        other => Some(other.to_string()),
                    }
                })
                .unwrap_or_else(|| format!("http-{}", sms.idempotency_key));
            Ok(id)
        })
    }

    fn takes_receipts(&self) -> bool {
        self.receipt_secret.is_some()
    }

    fn receipt(&self, request: &ReceiptRequest<'_>) -> Result<Receipt, ReceiptError> {
        let (Some(receipts), Some(secret)) = (&self.config.receipts, &self.receipt_secret) else {
            return Err(ReceiptError::NotTaken);
        };
        let signature = request.header(&receipts.signature_header).ok_or_else(|| {
            ReceiptError::Unauthenticated(format!("no {} header", receipts.signature_header))
        })?;
        if !body_signed(secret, request.body, signature) {
            return Err(ReceiptError::Unauthenticated(format!(
                "{} does not match the body",
                receipts.signature_header
            )));
        }
        let json: serde_json::Value = serde_json::from_slice(request.body)
            .map_err(|_| ReceiptError::Malformed("the body is not JSON".into()))?;
        let text = |pointer: &str| match json.pointer(pointer) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(v @ serde_json::Value::Number(_)) => Some(v.to_string()),
            _ => None,
        };
        let message_id = text(&receipts.message_id_pointer).ok_or_else(|| {
            ReceiptError::Malformed(format!("no message id at {}", receipts.message_id_pointer))
        })?;
        let status = text(&receipts.status_pointer).ok_or_else(|| {
            ReceiptError::Malformed(format!("no status at {}", receipts.status_pointer))
        })?;
        let is = |list: &[String]| list.iter().any(|s| s.eq_ignore_ascii_case(&status));
        let delivery = if is(&receipts.delivered) {
            Delivery::Delivered
        } else if is(&receipts.failed) {
            Delivery::Failed
        } else {
            Delivery::Pending
        };
        // The provider's status word only, cut short: it is shown in events and logs.
        let detail: String = status.chars().take(64).collect();
        Ok(Receipt {
            message_id,
            delivery,
            detail,
        })
    }
}

/// Checks an HMAC-SHA256 of `body` (hex or base64, `sha256=` before it or not), in constant
/// time.
fn body_signed(secret: &str, body: &[u8], signature: &str) -> bool {
    let given = signature.trim();
    let given = given.strip_prefix("sha256=").unwrap_or(given);
    let bytes = if given.len() == 64 && given.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(given).ok()
    } else {
        base64::engine::general_purpose::STANDARD.decode(given).ok()
    };
    let (Some(bytes), Ok(mut mac)) = (
        bytes,
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()),
    ) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway(template: &str, content_type: &str) -> HttpGateway {
        HttpGateway::new(
            Config {
                url: "http://127.0.0.1:9/sms".into(),
                method: "POST".into(),
                headers: BTreeMap::new(),
                body_template: template.into(),
                content_type: content_type.into(),
                sender_id: "Acme".into(),
                auth: None,
                success_statuses: vec![],
                message_id_pointer: None,
                idempotency_header: None,
                receipts: None,
            },
            Outbound::new(true),
        )
        .unwrap()
    }

    const SMS: Sms<'static> = Sms {
        to: "+447400900123",
        body: "Code \"12\" {to} & more",
        idempotency_key: "k1",
        status_url: Some("https://id.example/t/acme/sms/status/http"),
    };

    #[test]
    fn templates_escape_for_their_content_type_and_expand_once() {
        let json = gateway(
            r#"{"to":"{to}","text":"{message}","from":"{sender}"}"#,
            "application/json",
        )
        .render(&SMS);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["text"], SMS.body, "{json}");
        assert_eq!(parsed["to"], SMS.to);
        assert_eq!(parsed["from"], "Acme");
        let form = gateway(
            "to={to}&text={message}",
            "application/x-www-form-urlencoded",
        )
        .render(&SMS);
        let pairs: BTreeMap<String, String> = url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(pairs["text"], SMS.body);
        assert_eq!(pairs["to"], SMS.to);
    }

    #[test]
    fn configuration_errors_name_the_field() {
        let mut config = gateway("{to} {message}", "text/plain").config;
        config.body_template = "{to}".into();
        assert!(
            HttpGateway::new(config.clone(), Outbound::new(true))
                .unwrap_err()
                .starts_with("body_template")
        );
        config.body_template = "{to} {message}".into();
        config.method = "GET".into();
        assert!(
            HttpGateway::new(config.clone(), Outbound::new(true))
                .unwrap_err()
                .starts_with("method")
        );
        config.method = "POST".into();
        assert!(
            HttpGateway::new(config, Outbound::new(false))
                .unwrap_err()
                .starts_with("url"),
            "plain http to loopback is refused by the production policy"
        );
    }

    fn receiving(secret_file: &std::path::Path) -> HttpGateway {
        let mut config = gateway(r#"{"to":"{to}","text":"{message}"}"#, "application/json").config;
        config.message_id_pointer = Some("/id".into());
        config.receipts = Some(Receipts {
            secret: SecretRef {
                env: None,
                file: Some(secret_file.to_path_buf()),
                sealed: None,
            },
            signature_header: default_signature_header(),
            message_id_pointer: "/message/id".into(),
            status_pointer: "/message/status".into(),
            delivered: default_delivered(),
            failed: default_failed(),
        });
        HttpGateway::new(config, Outbound::new(true)).unwrap()
    }

    fn hmac_hex(key: &str, body: &str) -> String {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn receipts_signed_with_the_shared_secret_are_read() {
        let file = std::env::temp_dir().join(format!("sesame-receipt-{}", std::process::id()));
        std::fs::write(&file, "a-shared-secret-of-32-characters\n").unwrap();
        let http = receiving(&file);
        std::fs::remove_file(&file).unwrap();
        let body = r#"{"message":{"id":"m-1","status":"UNDELIVERED"}}"#;
        let read = |signature: &str| {
            let headers = vec![("x-signature".to_string(), signature.to_string())];
            http.receipt(&ReceiptRequest {
                url: "https://id.example/t/acme/sms/status/http",
                headers: &headers,
                body: body.as_bytes(),
            })
        };
        let mac = hmac_hex("a-shared-secret-of-32-characters", body);
        let receipt = read(&mac).unwrap();
        assert_eq!(receipt.message_id, "m-1");
        assert_eq!(receipt.delivery, Delivery::Failed);
        // The same HMAC as sha256=hex, and as base64.
        assert_eq!(read(&format!("sha256={mac}")).unwrap(), receipt);
        let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(&mac).unwrap());
        assert_eq!(read(&b64).unwrap(), receipt);
        // Another key, or a changed body, is refused.
        assert!(matches!(
            read(&hmac_hex("another-secret-of-32-characters!", body)),
            Err(ReceiptError::Unauthenticated(_))
        ));
        assert!(matches!(
            read(&hmac_hex(
                "a-shared-secret-of-32-characters",
                &body.replace("m-1", "m-2")
            )),
            Err(ReceiptError::Unauthenticated(_))
        ));
        // Without receipts configured the gateway takes none.
        let plain = gateway("{to} {message}", "text/plain");
        let headers = vec![("x-signature".to_string(), mac.clone())];
        assert_eq!(
            plain.receipt(&ReceiptRequest {
                url: "u",
                headers: &headers,
                body: body.as_bytes(),
            }),
            Err(ReceiptError::NotTaken)
        );
    }

    #[test]
    fn the_status_url_fills_its_placeholder() {
        let body = gateway(
            r#"{"to":"{to}","text":"{message}","callback":"{status_url}"}"#,
            "application/json",
        )
        .render(&SMS);
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            parsed["callback"],
            "https://id.example/t/acme/sms/status/http"
        );
    }
}
