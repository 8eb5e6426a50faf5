//! Public JWKs and JWKS documents as clients register them (`jwks` in the provisioning file and
//! the CLI, or fetched from `jwks_uri`): any JSON gives a verifier or an error, never a panic,
//! and a verifier refuses a signature it could not have made.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame::keys::Verifier;
use sesame::keys::jwk::parse_jwks;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(v) = Verifier::from_jwk(&doc) {
        assert!(!v.verify(b"header.payload", b""));
        assert!(!v.verify(b"header.payload", &[0u8; 64]));
    }
    if let Ok(keys) = parse_jwks(&doc) {
        assert!(!keys.is_empty(), "an accepted JWKS has keys");
    }
});
