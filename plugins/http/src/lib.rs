//! A generic HTTP SMS gateway: one request per message to a configured URL, with a body made
//! from a template (`{to}`, `{message}`, `{sender}`, `{idempotency_key}`), headers, basic or bearer
//! authentication, and the statuses that count as success.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sesame_plugin_api::{
    BoxFuture, Outbound, OutboundError, SecretRef, SendError, Sms, SmsGateway,
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
        Ok(Self {
            config,
            method,
            auth,
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
            },
            Outbound::new(true),
        )
        .unwrap()
    }

    const SMS: Sms<'static> = Sms {
        to: "+447400900123",
        body: "Code \"12\" {to} & more",
        idempotency_key: "k1",
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
}
