//! The OpenID Provider metadata (OpenID Connect Discovery 1.0 §3).
//!
//! It advertises only what Sesame serves today; each endpoint adds its entries as it lands, so a
//! client never follows a promise to a 404.

use serde_json::{Value, json};

use crate::keys::Alg;

/// The path of an organization's JWKS, under its issuer.
pub const JWKS_PATH: &str = "/jwks";

pub fn document(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": Alg::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
    })
}
