//! JWS compact tokens (client assertions, upstream ID tokens, Sesame's own access tokens): split,
//! decoded and verified against fixed RS256, ES256 and EdDSA keys (the public halves in the seed
//! corpus of the `jwk` target; the seed tokens are signed by their private halves, which were
//! thrown away). Any input gives claims or `None`; a verified token's `alg` is its key's.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use sesame::keys::Verifier;
use sesame::keys::jwk::{decode_verified, unverified_claims, unverified_header};

const JWKS: [&str; 3] = [
    include_str!("../seeds/jwk/seed-rs256.json"),
    include_str!("../seeds/jwk/seed-es256.json"),
    include_str!("../seeds/jwk/seed-eddsa.json"),
];

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static KEYS: Vec<(String, Arc<Verifier>)> = JWKS
            .iter()
            .map(|text| {
                let jwk: serde_json::Value = serde_json::from_str(text).unwrap();
                let kid = jwk["kid"].as_str().unwrap().to_string();
                (kid, Arc::new(Verifier::from_jwk(&jwk).unwrap()))
            })
            .collect();
    }
    let Ok(jws) = std::str::from_utf8(data) else {
        return;
    };
    let _ = unverified_header(jws);
    let _ = unverified_claims(jws);
    KEYS.with(|keys| {
        // By kid, as Sesame checks its own tokens.
        let by_kid = decode_verified(jws, |kid| {
            keys.iter()
                .find(|(k, _)| Some(k.as_str()) == kid)
                .map(|(_, v)| v.clone())
        });
        if let Some((header, _)) = &by_kid {
            let kid = header["kid"].as_str().expect("verified by kid");
            let (_, v) = keys.iter().find(|(k, _)| k == kid).unwrap();
            assert_eq!(header["alg"].as_str(), Some(v.alg.as_str()));
        }
        // Each key in turn, as a client assertion without a kid is checked.
        for (_, v) in keys {
            if let Some((header, _)) = decode_verified(jws, |_| Some(v.clone())) {
                assert_eq!(header["alg"].as_str(), Some(v.alg.as_str()));
            }
        }
    });
});
