//! A client for Twilio's Messages API: `POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json`,
//! a form with `To`, `Body` and `From` or `MessagingServiceSid`, HTTP basic auth with the account
//! SID and auth token. The base URL is configurable (Twilio-compatible providers, test servers).
//!
//! With `delivery_receipts = true` each message asks Twilio for status callbacks
//! (`StatusCallback`, Sesame's status URL); a callback is taken only with a valid
//! `X-Twilio-Signature`: base64 HMAC-SHA1, under the auth token, of the URL followed by the form's
//! parameters sorted by name, each name then its value.

use base64::Engine;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sesame_plugin_api::{
    BoxFuture, Delivery, Outbound, Receipt, ReceiptError, ReceiptRequest, SecretRef, SendError,
    Sms, SmsGateway,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub account_sid: String,
    pub auth_token: SecretRef,
    /// The sending number (E.164) or alphanumeric sender id…
    pub from: Option<String>,
    /// …or a messaging service that picks one.
    pub messaging_service_sid: Option<String>,
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// Ask Twilio to post each message's status to Sesame (it must reach Sesame's base URL).
    #[serde(default)]
    pub delivery_receipts: bool,
}

fn default_base_url() -> String {
    "https://api.twilio.com".into()
}

pub struct Twilio {
    config: Config,
    auth_token: String,
    outbound: Outbound,
}

/// By hand: the auth token signs every request and every receipt, so it never prints.
impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twilio")
            .field("config", &self.config)
            .field("auth_token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl Twilio {
    /// Checks the configuration and reads the auth token.
    pub fn new(config: Config, outbound: Outbound) -> Result<Self, String> {
        if config.from.is_some() == config.messaging_service_sid.is_some() {
            return Err("give either from or messaging_service_sid".into());
        }
        if !config.account_sid.starts_with("AC") || config.account_sid.len() != 34 {
            return Err("account_sid: a Twilio account SID is AC followed by 32 hex digits".into());
        }
        outbound
            .check_url(&config.base_url)
            .map_err(|e| format!("base_url: {e}"))?;
        let auth_token = config
            .auth_token
            .resolve()
            .map_err(|e| format!("auth_token: {e}"))?;
        Ok(Self {
            config,
            auth_token,
            outbound,
        })
    }
}

impl SmsGateway for Twilio {
    fn kind(&self) -> &'static str {
        "twilio"
    }

    fn send<'a>(&'a self, sms: Sms<'a>) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(async move {
            let url = format!(
                "{}/2010-04-01/Accounts/{}/Messages.json",
                self.config.base_url.trim_end_matches('/'),
                self.config.account_sid
            );
            let mut form = vec![("To", sms.to), ("Body", sms.body)];
            match (&self.config.from, &self.config.messaging_service_sid) {
                (Some(from), _) => form.push(("From", from)),
                (None, Some(service)) => form.push(("MessagingServiceSid", service)),
                (None, None) => {}
            }
            if let (true, Some(url)) = (self.config.delivery_receipts, sms.status_url) {
                form.push(("StatusCallback", url));
            }
            let request = self
                .outbound
                .request(reqwest::Method::POST, &url)?
                .basic_auth(&self.config.account_sid, Some(&self.auth_token))
                .form(&form);
            let (status, body) = self.outbound.send_capped(request).await?;
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if status.is_success() {
                return json["sid"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| SendError::Retryable("Twilio answered without a sid".into()));
            }
            // Twilio's error body: {"code": 21211, "message": "The 'To' number … is not valid."}
            let detail = format!(
                "Twilio error {}: {}",
                json["code"],
                json["message"].as_str().unwrap_or("")
            );
            Err(SendError::from_status(status.as_u16(), &detail))
        })
    }

    fn takes_receipts(&self) -> bool {
        self.config.delivery_receipts
    }

    fn receipt(&self, request: &ReceiptRequest<'_>) -> Result<Receipt, ReceiptError> {
        if !self.config.delivery_receipts {
            return Err(ReceiptError::NotTaken);
        }
        let params: Vec<(String, String)> = url::form_urlencoded::parse(request.body)
            .into_owned()
            .collect();
        let signature = request
            .header("x-twilio-signature")
            .ok_or_else(|| ReceiptError::Unauthenticated("no X-Twilio-Signature".into()))?;
        if !signature_matches(&self.auth_token, request.url, &params, signature) {
            return Err(ReceiptError::Unauthenticated(
                "X-Twilio-Signature does not match".into(),
            ));
        }
        let field = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let message_id = field("MessageSid")
            .or_else(|| field("SmsSid"))
            .ok_or_else(|| ReceiptError::Malformed("no MessageSid".into()))?;
        let status = field("MessageStatus")
            .or_else(|| field("SmsStatus"))
            .ok_or_else(|| ReceiptError::Malformed("no MessageStatus".into()))?;
        let delivery = match status {
            "delivered" | "read" => Delivery::Delivered,
            "undelivered" | "failed" | "canceled" => Delivery::Failed,
            _ => Delivery::Pending,
        };
        let detail = match field("ErrorCode").filter(|c| !c.is_empty()) {
            Some(code) => format!("{status} {code}"),
            None => status.to_string(),
        };
        Ok(Receipt {
            message_id: message_id.to_string(),
            delivery,
            detail,
        })
    }
}

/// Checks Twilio's request signature, in constant time.
fn signature_matches(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(auth_token.as_bytes()) else {
        return false;
    };
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_auth_token() {
        let dir = std::env::temp_dir().join(format!("sesame-twilio-token-{}", std::process::id()));
        std::fs::write(&dir, "tok-3f9a8b7c6d5e4f30").unwrap();
        let config: Config = serde_json::from_value(serde_json::json!({
            "account_sid": "AC0123456789abcdef0123456789abcdef",
            "auth_token": { "file": dir },
            "from": "+15005550006",
        }))
        .unwrap();
        let twilio = Twilio::new(config, Outbound::new(true)).unwrap();
        std::fs::remove_file(&dir).unwrap();
        let shown = format!("{twilio:?}");
        assert!(!shown.contains("tok-3f9a8b7c6d5e4f30"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The example of Twilio's security documentation (its URL, parameters and token).
    #[test]
    fn the_signature_of_twilios_documentation_verifies() {
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert!(signature_matches(
            "12345",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        // Any change to the token, the URL, a value or the signature fails.
        assert!(!signature_matches(
            "12346",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!signature_matches(
            "12345",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        let mut changed = params.clone();
        changed[2].1 = "1235".into();
        assert!(!signature_matches(
            "12345",
            url,
            &changed,
            "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
        ));
        assert!(!signature_matches(
            "12345",
            url,
            &params,
            "0/KCTR6DLpKmkAf8muzZqo1nDgR="
        ));
        assert!(!signature_matches("12345", url, &params, "not base64!"));
    }

    fn gateway(receipts: bool) -> Twilio {
        Twilio {
            config: Config {
                account_sid: format!("AC{}", "0".repeat(32)),
                auth_token: SecretRef {
                    env: None,
                    file: None,
                    sealed: None,
                },
                from: Some("+15005550006".into()),
                messaging_service_sid: None,
                base_url: default_base_url(),
                delivery_receipts: receipts,
            },
            auth_token: "token".into(),
            outbound: Outbound::new(false),
        }
    }

    fn signed(url: &str, body: &str) -> Vec<(String, String)> {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let mut sorted = params.clone();
        sorted.sort();
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(b"token").unwrap();
        mac.update(url.as_bytes());
        for (k, v) in &sorted {
            mac.update(k.as_bytes());
            mac.update(v.as_bytes());
        }
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        vec![("x-twilio-signature".to_string(), signature)]
    }

    #[test]
    fn a_signed_status_callback_is_read() {
        let url = "https://id.example/t/acme/sms/status/twilio";
        let twilio = gateway(true);
        let read = |body: &str| {
            let headers = signed(url, body);
            twilio.receipt(&ReceiptRequest {
                url,
                headers: &headers,
                body: body.as_bytes(),
            })
        };
        let failed =
            read("MessageSid=SM1&MessageStatus=undelivered&ErrorCode=30003&To=%2B15005550006")
                .unwrap();
        assert_eq!(failed.message_id, "SM1");
        assert_eq!(failed.delivery, Delivery::Failed);
        assert_eq!(failed.detail, "undelivered 30003");
        assert!(!failed.detail.contains("+1500"), "never the number");
        assert_eq!(
            read("MessageSid=SM2&MessageStatus=delivered")
                .unwrap()
                .delivery,
            Delivery::Delivered
        );
        assert_eq!(
            read("MessageSid=SM3&MessageStatus=sent").unwrap().delivery,
            Delivery::Pending
        );
        assert!(matches!(
            read("MessageStatus=failed"),
            Err(ReceiptError::Malformed(_))
        ));
    }

    #[test]
    fn a_receipt_without_its_signature_or_to_a_gateway_not_asking_is_refused() {
        let url = "https://id.example/t/acme/sms/status/twilio";
        let body = "MessageSid=SM1&MessageStatus=failed";
        let mut headers = signed(url, body);
        let request = ReceiptRequest {
            url,
            headers: &headers,
            body: body.as_bytes(),
        };
        assert_eq!(
            gateway(false).receipt(&request),
            Err(ReceiptError::NotTaken)
        );
        // Signed for another URL (another organization's status URL).
        let other = ReceiptRequest {
            url: "https://id.example/t/other/sms/status/twilio",
            ..request
        };
        assert!(matches!(
            gateway(true).receipt(&other),
            Err(ReceiptError::Unauthenticated(_))
        ));
        headers.clear();
        let unsigned = ReceiptRequest {
            url,
            headers: &headers,
            body: body.as_bytes(),
        };
        assert!(matches!(
            gateway(true).receipt(&unsigned),
            Err(ReceiptError::Unauthenticated(_))
        ));
    }
}
