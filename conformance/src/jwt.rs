//! JWTs as the harness sees them: the parts decoded, the signature checked against the
//! provider's JWKS (with `jsonwebtoken`, not Sesame's code), and `at_hash` computed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

#[derive(Debug, Clone)]
pub struct Jwt {
    pub raw: String,
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

fn part(p: &str) -> Result<Map<String, Value>, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|e| format!("not base64url: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not a JSON object: {e}"))
}

impl Jwt {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let parts: Vec<&str> = raw.split('.').collect();
        if parts.len() != 3 {
            return Err(format!(
                "{} parts, not 3 (a JWS in compact form)",
                parts.len()
            ));
        }
        Ok(Self {
            raw: raw.into(),
            header: part(parts[0])?,
            claims: part(parts[1])?,
        })
    }

    pub fn alg(&self) -> &str {
        self.header.get("alg").and_then(Value::as_str).unwrap_or("")
    }

    pub fn str(&self, claim: &str) -> Option<&str> {
        self.claims.get(claim).and_then(Value::as_str)
    }

    pub fn int(&self, claim: &str) -> Option<i64> {
        self.claims.get(claim).and_then(Value::as_i64)
    }

    /// Verifies the signature with the key of the JWKS the header's `kid` names (or the only
    /// key usable for the algorithm when there is no `kid`).
    pub fn verify(&self, jwks: &Value) -> Result<(), String> {
        let alg: jsonwebtoken::Algorithm = self
            .alg()
            .parse()
            .map_err(|_| format!("unsupported alg '{}'", self.alg()))?;
        // Keys of kinds the library does not know (secp256k1, encryption keys) are skipped.
        let keys: Vec<jsonwebtoken::jwk::Jwk> = jwks["keys"]
            .as_array()
            .ok_or("the JWKS has no keys array")?
            .iter()
            .filter_map(|k| serde_json::from_value(k.clone()).ok())
            .collect();
        let kid = self.header.get("kid").and_then(Value::as_str);
        let candidates: Vec<&jsonwebtoken::jwk::Jwk> = keys
            .iter()
            .filter(|k| kid.is_none_or(|kid| k.common.key_id.as_deref() == Some(kid)))
            .collect();
        if candidates.is_empty() {
            return Err(format!("no key with kid {kid:?} in the JWKS"));
        }
        let (message, signature) = self.raw.rsplit_once('.').ok_or("no signature")?;
        for jwk in candidates {
            let Ok(key) = jsonwebtoken::DecodingKey::from_jwk(jwk) else {
                continue;
            };
            if jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, alg)
                .unwrap_or(false)
            {
                return Ok(());
            }
        }
        Err("the signature does not verify with the JWKS".into())
    }
}

/// `at_hash` / `c_hash`: the left half of the hash of `value` for the ID token's algorithm.
pub fn half_hash(alg: &str, value: &str) -> Option<String> {
    let digest: Vec<u8> = match &alg[alg.len().saturating_sub(3)..] {
        "256" => Sha256::digest(value.as_bytes()).to_vec(),
        "384" => Sha384::digest(value.as_bytes()).to_vec(),
        "512" => Sha512::digest(value.as_bytes()).to_vec(),
        // EdDSA (Ed25519) uses SHA-512 (OpenID Connect errata).
        _ if alg == "EdDSA" => Sha512::digest(value.as_bytes()).to_vec(),
        _ => return None,
    };
    Some(URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]))
}
