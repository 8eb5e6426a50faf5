//! A client for Twilio's Messages API: `POST {base_url}/2010-04-01/Accounts/{sid}/Messages.json`,
//! a form with `To`, `Body` and `From` or `MessagingServiceSid`, HTTP basic auth with the account
//! SID and auth token. The base URL is configurable (Twilio-compatible providers, test servers).

use serde::{Deserialize, Serialize};
use sesame_plugin_api::{BoxFuture, Outbound, SecretRef, SendError, Sms, SmsGateway};

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
}

fn default_base_url() -> String {
    "https://api.twilio.com".into()
}

#[derive(Debug)]
pub struct Twilio {
    config: Config,
    auth_token: String,
    outbound: Outbound,
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
}
