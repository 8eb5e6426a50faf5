//! `POST {issuer}/sms/status/{gateway}`: delivery receipts from the organization's SMS
//! providers. The gateway plug-ins of that kind check the signature and read the receipt; a
//! final report is stored on the code it concerns, so its page says at once that the text will
//! not arrive (and offers the user's other factors), and an undelivered code is published on
//! `NOTIFICATIONS` as `SmsOtpUndeliveredEvent`.
//!
//! Answers: 204 when taken (a receipt for a message Sesame does not know yet is kept a day for
//! the delivery that will record its id: providers may report before the sending node has
//! written it), 401 for a bad or missing signature — also for a gateway type Sesame knows that
//! the organization does not use for receipts, with the same words, so nobody learns which
//! providers an organization uses by probing — 400 for a signed body that is not a receipt,
//! 404 for a type Sesame does not know, 413 over 16 KiB. Errors are JSON (`error`,
//! `error_description`), like every protocol endpoint's.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use super::AppState;
use super::error::{ApiError, OAuthError};
use crate::events::receipts;
use crate::plugin::{Delivery, ReceiptError, ReceiptRequest};
use crate::store::write_transaction;

/// Receipts are a few hundred bytes (Twilio's form, a provider's JSON).
const MAX_BODY: usize = 16 * 1024;

pub async fn receipt(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (slug, kind) = path.into_inner();
    let org = state.organization(&slug).await?;
    if body.len() > MAX_BODY {
        return Ok(refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "a delivery receipt is at most 16 KiB",
        ));
    }
    if !crate::plugin::GATEWAY_TYPES.contains(&kind.as_str()) {
        return Err(ApiError::NotFound);
    }
    let Ok(channel) = org.sms.as_ref() else {
        return Ok(unsigned());
    };
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    // What the gateways signed is the URL Sesame gave them, not this request's host header.
    let url = format!("{}/sms/status/{kind}", org.issuer);
    let request = ReceiptRequest {
        url: &url,
        headers: &headers,
        body: &body,
    };
    let (receipt, gateway) = match channel.receipt(&kind, &request) {
        Ok(taken) => taken,
        Err(ReceiptError::NotTaken) => return Ok(unsigned()),
        Err(e @ ReceiptError::Unauthenticated(_)) => {
            // Not a warning: anyone can post here, and the log is not theirs to fill.
            tracing::debug!(org = %org.org.slug, gateway = %kind, error = %e, "SMS delivery receipt refused");
            return Ok(unsigned());
        }
        Err(e @ ReceiptError::Malformed(_)) => {
            return Ok(refused(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &e.to_string(),
            ));
        }
    };
    if receipt.delivery == Delivery::Pending {
        return Ok(HttpResponse::NoContent().finish());
    }
    let entry = org.clone();
    let (message_id, delivery, detail) = (
        receipt.message_id.clone(),
        receipt.delivery,
        receipt.detail.clone(),
    );
    let applied = state
        .db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                receipts::apply(conn, &entry, &gateway, &message_id, delivery, &detail)
            })
        })
        .await?;
    tracing::info!(org = %org.org.slug, gateway = %kind, delivery = delivery.as_str(), status = %receipt.detail, ?applied, "SMS delivery receipt");
    Ok(HttpResponse::NoContent().finish())
}

/// A receipt no gateway of the organization vouches for: a bad or missing signature, or a type
/// the organization does not take receipts from — one answer for all (the details are in the
/// debug log).
fn unsigned() -> HttpResponse {
    refused(
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
        "the receipt's signature is missing or does not match",
    )
}

/// A refusal as every protocol endpoint answers: JSON `error` and `error_description`.
fn refused(status: StatusCode, error: &'static str, description: &str) -> HttpResponse {
    OAuthError {
        status,
        error,
        description: description.to_string(),
        challenge: None,
    }
    .error_response()
}
