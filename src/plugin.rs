//! Plugins: the traits (re-exported from `sesame-plugin-api`) and the registry that builds an
//! organization's SMS channel from its settings.
//!
//! An organization sends text messages through the console (development, the default) or
//! through its gateways, in order of preference: a retryable failure moves on to the next
//! gateway, a permanent one stops (another gateway would reject the same number too).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use sesame_plugin_api::{
    BoxFuture, Delivery, Event, EventSink, Outbound, Receipt, ReceiptError, ReceiptRequest,
    SecretRef, SendError, Sms, SmsGateway,
};

/// The gateway `type`s Sesame knows (those of [`GatewayConfig`]).
pub const GATEWAY_TYPES: [&str; 3] = ["console", "http", "twilio"];

/// One configured gateway, by its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum GatewayConfig {
    Console(sesame_plugin_console::Config),
    /// Boxed: its templates and receipt settings make it several times the others' size.
    Http(Box<sesame_plugin_http::Config>),
    Twilio(sesame_plugin_twilio::Config),
}

/// An organization's SMS channel (`[organizations.sms]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case", deny_unknown_fields)]
pub enum SmsSettings {
    /// Development: messages printed by the server.
    #[default]
    Console,
    /// The organization's gateways, in order of preference.
    Gateways { gateways: Vec<GatewayConfig> },
    /// Webhook subscribers of the `NOTIFICATIONS` topic send the messages (the guide's path):
    /// SMS OTP events go to them, and no gateway sends anything.
    Webhook,
}

/// How a code's row names the gateway that sent its text: its type and its place in the
/// organization's list (`http#1`), so a receipt one gateway's secret checks cannot speak of
/// another's messages, even of the same type.
pub fn gateway_label(kind: &str, position: usize) -> String {
    format!("{kind}#{position}")
}

/// The gateway type a [`gateway_label`] names.
pub fn gateway_kind(label: &str) -> &str {
    label.split('#').next().unwrap_or(label)
}

/// A built channel: the gateways to try in order (none in webhook mode).
#[derive(Debug, Clone)]
pub struct SmsChannel {
    gateways: Vec<Arc<dyn SmsGateway>>,
    webhook: bool,
}

impl SmsChannel {
    /// Whether subscribers, not gateways, send this organization's messages.
    pub fn is_webhook(&self) -> bool {
        self.webhook
    }

    /// Builds the channel `settings` describe; `console` is the gateway behind the console
    /// channel (tests put an in-process capture there). Errors name the gateway and the field.
    pub fn build(
        settings: &SmsSettings,
        outbound: &Outbound,
        console: &Arc<dyn SmsGateway>,
    ) -> Result<Self, String> {
        let gateways = match settings {
            SmsSettings::Webhook => {
                return Ok(Self {
                    gateways: Vec::new(),
                    webhook: true,
                });
            }
            SmsSettings::Console => vec![console.clone()],
            SmsSettings::Gateways { gateways } if gateways.is_empty() => {
                return Err("gateways: list at least one gateway".into());
            }
            SmsSettings::Gateways { gateways } => gateways
                .iter()
                .enumerate()
                .map(|(i, g)| {
                    let built: Result<Arc<dyn SmsGateway>, String> = match g {
                        GatewayConfig::Console(_) => Ok(console.clone()),
                        GatewayConfig::Http(c) => {
                            sesame_plugin_http::HttpGateway::new((**c).clone(), outbound.clone())
                                .map(|g| Arc::new(g) as Arc<dyn SmsGateway>)
                        }
                        GatewayConfig::Twilio(c) => {
                            sesame_plugin_twilio::Twilio::new(c.clone(), outbound.clone())
                                .map(|g| Arc::new(g) as Arc<dyn SmsGateway>)
                        }
                    };
                    built.map_err(|e| format!("gateways[{i}]: {e}"))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            gateways,
            webhook: false,
        })
    }

    /// Sends through the first gateway that takes the message. Returns which gateway (its
    /// [`gateway_label`]) and the provider's id, or the last error. Each gateway's answer and
    /// time go to `metrics`. A gateway's receipts go to `{status_base}/{kind}`.
    pub async fn send(
        &self,
        sms: Sms<'_>,
        status_base: &str,
        metrics: &crate::metrics::Metrics,
        organization: &str,
    ) -> Result<(String, String), SendError> {
        use tracing::Instrument;
        let mut last = SendError::Permanent("no gateway".into());
        for (i, gateway) in self.gateways.iter().enumerate() {
            // One span per gateway tried: its kind and result, never the number or the text.
            let span = tracing::debug_span!(
                "SMS send",
                sesame.sms.gateway = gateway.kind(),
                sesame.sms.result = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            let started = std::time::Instant::now();
            let status_url = format!("{status_base}/{}", gateway.kind());
            let sms = Sms {
                status_url: Some(&status_url),
                ..sms
            };
            let sent = gateway.send(sms).instrument(span.clone()).await;
            let outcome = match &sent {
                Ok(_) => "sent",
                Err(e) if e.is_retryable() => "retryable_error",
                Err(_) => "permanent_error",
            };
            metrics.sms_send(organization, gateway.kind(), outcome, started.elapsed());
            span.record("sesame.sms.result", outcome);
            if sent.is_err() {
                span.record("otel.status_code", "ERROR");
            }
            match sent {
                Ok(id) => return Ok((gateway_label(gateway.kind(), i), id)),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(gateway = gateway.kind(), error = %e, "SMS gateway failed; trying the next");
                    last = e;
                }
                Err(e) => {
                    tracing::warn!(gateway = gateway.kind(), error = %e, "SMS gateway rejected the message");
                    return Err(e);
                }
            }
        }
        Err(last)
    }

    /// Whether the gateway `label` names (or, with none, any gateway of the channel) takes
    /// delivery receipts.
    pub fn takes_receipts(&self, label: Option<&str>) -> bool {
        self.gateways.iter().enumerate().any(|(i, g)| {
            g.takes_receipts() && label.is_none_or(|l| l == gateway_label(g.kind(), i))
        })
    }

    /// Reads a delivery receipt posted for the gateways of `kind`: the first of them that
    /// takes it and whose check it passes, with that gateway's label (a receipt speaks only of
    /// its own gateway's messages). `NotTaken` when none of that kind takes receipts.
    pub fn receipt(
        &self,
        kind: &str,
        request: &ReceiptRequest<'_>,
    ) -> Result<(Receipt, String), ReceiptError> {
        let mut refused = ReceiptError::NotTaken;
        let of_kind = self
            .gateways
            .iter()
            .enumerate()
            .filter(|(_, g)| g.kind() == kind);
        for (i, gateway) in of_kind {
            match gateway.receipt(request) {
                Ok(receipt) => return Ok((receipt, gateway_label(kind, i))),
                Err(ReceiptError::NotTaken) => {}
                // A signature another gateway of the kind may still check (two accounts).
                Err(e @ ReceiptError::Unauthenticated(_)) => {
                    if refused == ReceiptError::NotTaken {
                        refused = e;
                    }
                }
                Err(e) => refused = e,
            }
        }
        Err(refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `GATEWAY_TYPES` is the list serde knows for `GatewayConfig`: an unknown type's error
    /// names every variant.
    #[test]
    fn the_gateway_types_are_those_of_the_configuration() {
        let err = serde_json::from_str::<GatewayConfig>(r#"{"type": "pigeon"}"#)
            .unwrap_err()
            .to_string();
        let expected: Vec<String> = GATEWAY_TYPES.iter().map(|t| format!("`{t}`")).collect();
        assert!(
            err.contains(&format!("expected one of {}", expected.join(", "))),
            "{err}"
        );
    }
}
