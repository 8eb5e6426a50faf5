//! The token endpoint up to the database: the form body read as `http::token` reads it, then the
//! client's credentials (`client_secret_basic`, `client_secret_post`, `private_key_jwt`, `none`)
//! and the PKCE check. The first line of the input is the `Authorization` header (empty: none).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame::oidc::authorize::{Params, pkce_matches};
use sesame::oidc::client_auth::{presented_credentials, strip_scheme};

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    // The header as actix gives it: only visible ASCII makes a `&str`.
    let header = std::str::from_utf8(header)
        .ok()
        .filter(|h| !h.is_empty() && h.bytes().all(|b| (0x20..0x7f).contains(&b)));
    let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) else {
        return;
    };
    let params = Params::from_pairs(pairs);
    if params.control_character().is_some() || params.repeated().is_some() {
        return;
    }
    if let Some(h) = header {
        let _ = strip_scheme(h, "Basic");
        let _ = strip_scheme(h, "Bearer");
    }
    let _ = presented_credentials(header, &params).map(|p| format!("{p:?}"));
    if let (Some(verifier), Some(challenge)) =
        (params.get("code_verifier"), params.get("code_challenge"))
    {
        let _ = pkce_matches(verifier, challenge);
    }
    let _ = params.get("grant_type");
});
