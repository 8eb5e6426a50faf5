//! Key generation, JWK export, RFC 7638 thumbprints, and JWS signing and verification for RS256,
//! ES256 and EdDSA. The JWS itself (compact serialization, `alg` pinned per key, `crit` refused
//! unless understood, RSA keys of 2048 bits at least) is `josekit`'s; key generation, JWK export
//! and thumbprints stay on OpenSSL, which `josekit` is built on too.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use josekit::jws::{JwsAlgorithm, JwsSigner, JwsVerifier};
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A JWS signing algorithm Sesame can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alg {
    RS256,
    ES256,
    EdDSA,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::ES256, Alg::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    pub fn parse(value: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str() == value)
            .ok_or_else(|| {
                format!("'{value}' is not a signing algorithm: use RS256, ES256 or EdDSA")
            })
    }

    /// A fresh private key: RSA 2048, P-256 or Ed25519.
    pub fn generate(self) -> Result<PKey<Private>, KeyError> {
        Ok(match self {
            Self::RS256 => PKey::from_rsa(Rsa::generate(2048)?)?,
            Self::ES256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
                PKey::from_ec_key(EcKey::generate(&group)?)?
            }
            Self::EdDSA => PKey::generate_ed25519()?,
        })
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cryptography error: {0}")]
    Crypto(#[from] openssl::error::ErrorStack),
    #[error("key does not match its algorithm {0}")]
    WrongKeyType(Alg),
    #[error(
        "cannot decrypt a stored signing key: wrong key-encryption key, or the row was altered"
    )]
    Decrypt,
    #[error("stored signing key is malformed: {0}")]
    Malformed(String),
    #[error("JOSE error: {0}")]
    Jose(#[from] josekit::JoseError),
}

/// The public JWK's required members, in the lexicographic order RFC 7638 hashes them.
fn required_members(
    key: &PKey<Private>,
    alg: Alg,
) -> Result<Vec<(&'static str, String)>, KeyError> {
    Ok(match alg {
        Alg::RS256 => {
            let rsa = key.rsa().map_err(|_| KeyError::WrongKeyType(alg))?;
            vec![
                ("e", B64URL.encode(rsa.e().to_vec())),
                ("kty", "RSA".into()),
                ("n", B64URL.encode(rsa.n().to_vec())),
            ]
        }
        Alg::ES256 => {
            let ec = key.ec_key().map_err(|_| KeyError::WrongKeyType(alg))?;
            let mut ctx = BigNumContext::new()?;
            let (mut x, mut y) = (openssl::bn::BigNum::new()?, openssl::bn::BigNum::new()?);
            ec.public_key()
                .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)?;
            vec![
                ("crv", "P-256".into()),
                ("kty", "EC".into()),
                ("x", B64URL.encode(x.to_vec_padded(32)?)),
                ("y", B64URL.encode(y.to_vec_padded(32)?)),
            ]
        }
        Alg::EdDSA => {
            if key.id() != Id::ED25519 {
                return Err(KeyError::WrongKeyType(alg));
            }
            vec![
                ("crv", "Ed25519".into()),
                ("kty", "OKP".into()),
                ("x", B64URL.encode(key.raw_public_key()?)),
            ]
        }
    })
}

/// The RFC 7638 thumbprint (SHA-256, base64url): Sesame's `kid`.
pub fn thumbprint(key: &PKey<Private>, alg: Alg) -> Result<String, KeyError> {
    Ok(thumbprint_of(&required_members(key, alg)?))
}

/// Hashes the required members, given in lexicographic order, as canonical JSON (no spaces).
fn thumbprint_of(members: &[(&str, String)]) -> String {
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::from(*k), Value::from(v.as_str())))
        .collect();
    B64URL.encode(Sha256::digest(format!("{{{}}}", body.join(",")).as_bytes()))
}

/// The public JWK as published in the JWKS: required members plus `kid`, `alg`, `use`.
pub fn public_jwk(key: &PKey<Private>, alg: Alg) -> Result<Value, KeyError> {
    let mut jwk = serde_json::Map::new();
    for (k, v) in required_members(key, alg)? {
        jwk.insert(k.to_string(), Value::String(v));
    }
    jwk.insert("kid".into(), json!(thumbprint(key, alg)?));
    jwk.insert("alg".into(), json!(alg.as_str()));
    jwk.insert("use".into(), json!("sig"));
    Ok(Value::Object(jwk))
}

/// A ready-to-use signing key, built once per key and shared (parsing a key per signature would
/// cost more than the signature).
pub struct Signer {
    pub kid: String,
    pub alg: Alg,
    signer: Box<dyn JwsSigner>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(key: PKey<Private>, alg: Alg) -> Result<Self, KeyError> {
        let kid = thumbprint(&key, alg)?;
        let der = key.private_key_to_pkcs8()?;
        let signer: Box<dyn JwsSigner> = match alg {
            Alg::RS256 => Box::new(josekit::jws::RS256.signer_from_der(&der)?),
            Alg::ES256 => Box::new(josekit::jws::ES256.signer_from_der(&der)?),
            Alg::EdDSA => Box::new(josekit::jws::EdDSA.signer_from_der(&der)?),
        };
        Ok(Self { kid, alg, signer })
    }

    /// Signs `payload` as a compact JWS with header `{"alg","kid","typ"}`.
    pub fn sign_compact(&self, typ: &str, payload: &[u8]) -> Result<String, KeyError> {
        self.sign_with_header(&json!({ "kid": self.kid, "typ": typ }), payload)
    }

    /// Signs `payload` under a header given whole; its `alg` is set to this key's.
    pub fn sign_with_header(&self, header: &Value, payload: &[u8]) -> Result<String, KeyError> {
        let members = header
            .as_object()
            .cloned()
            .ok_or_else(|| KeyError::Malformed("a JWS header is a JSON object".into()))?;
        let header = josekit::jws::JwsHeader::from_map(members)?;
        Ok(josekit::jws::serialize_compact(
            payload,
            &header,
            &*self.signer,
        )?)
    }
}

/// A public key from a JWK (Sesame's own published keys, or a client's), for checking JWS
/// signed with it. Its algorithm is fixed when it is made: a JWS naming another is refused.
pub struct Verifier {
    pub alg: Alg,
    verifier: Box<dyn JwsVerifier>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Accepts RSA (2048 bits at least), EC P-256 and OKP Ed25519 keys without private members.
    /// `alg` may be absent (inferred from the key), `RS256`, `ES256`, `EdDSA`, or RFC 9864's
    /// fully specified `Ed25519`.
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        let bad = |what: &str| KeyError::Malformed(format!("JWK {what}"));
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| jwk.get(m).is_some())
        {
            return Err(KeyError::Malformed(
                "a published JWK must not contain private key members".into(),
            ));
        }
        let alg = match (
            jwk["alg"].as_str(),
            jwk["kty"].as_str(),
            jwk["crv"].as_str(),
        ) {
            (Some("Ed25519"), _, _) => Alg::EdDSA,
            (Some(alg), _, _) => Alg::parse(alg).map_err(KeyError::Malformed)?,
            (None, Some("RSA"), _) => Alg::RS256,
            (None, Some("EC"), Some("P-256")) => Alg::ES256,
            (None, Some("OKP"), Some("Ed25519")) => Alg::EdDSA,
            _ => return Err(bad("kty/crv: use RSA, EC P-256 or OKP Ed25519")),
        };
        let (kty, crv) = match alg {
            Alg::RS256 => ("RSA", None),
            Alg::ES256 => ("EC", Some("P-256")),
            Alg::EdDSA => ("OKP", Some("Ed25519")),
        };
        if jwk["kty"].as_str() != Some(kty) {
            return Err(bad("kty does not match alg"));
        }
        if crv.is_some() && jwk["crv"].as_str() != crv {
            return Err(bad("crv does not match alg"));
        }
        // The key's material only: `kid` is matched here (a JWS without one is tried against
        // each key), and `alg` was read above.
        let mut members = jwk
            .as_object()
            .cloned()
            .ok_or_else(|| bad("is not a JSON object"))?;
        members.remove("kid");
        members.remove("alg");
        let key = josekit::jwk::Jwk::from_map(members)?;
        let verifier: Box<dyn JwsVerifier> = match alg {
            Alg::RS256 => Box::new(josekit::jws::RS256.verifier_from_jwk(&key)?),
            Alg::ES256 => Box::new(josekit::jws::ES256.verifier_from_jwk(&key)?),
            Alg::EdDSA => Box::new(josekit::jws::EdDSA.verifier_from_jwk(&key)?),
        };
        Ok(Self { alg, verifier })
    }

    /// Checks a raw JWS signature over `input` (the signing input `header.payload`), with this
    /// key's algorithm (ES256 in its raw `r || s` form).
    pub fn verify(&self, input: &[u8], signature: &[u8]) -> bool {
        self.verifier.verify(input, signature).is_ok()
    }

    /// The verifier for a JWS whose header names `alg`, if this key verifies that algorithm.
    fn for_alg(&self, alg: &str) -> Option<Box<dyn JwsVerifier>> {
        if alg == self.alg.as_str() {
            Some(self.verifier.box_clone())
        } else if alg == "Ed25519" && self.alg == Alg::EdDSA {
            Some(Box::new(FullySpecified(self.verifier.box_clone())))
        } else {
            None
        }
    }
}

/// RFC 9864's `Ed25519`: the same signature as `EdDSA` over Ed25519, under its fully specified
/// name, which `josekit` does not know.
#[derive(Debug, Clone)]
struct Ed25519Name;

impl JwsAlgorithm for Ed25519Name {
    fn name(&self) -> &str {
        "Ed25519"
    }

    fn box_clone(&self) -> Box<dyn JwsAlgorithm> {
        Box::new(self.clone())
    }
}

#[derive(Debug)]
struct FullySpecified(Box<dyn JwsVerifier>);

impl JwsVerifier for FullySpecified {
    fn algorithm(&self) -> &dyn JwsAlgorithm {
        &Ed25519Name
    }

    fn key_id(&self) -> Option<&str> {
        None
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), josekit::JoseError> {
        self.0.verify(message, signature)
    }

    fn box_clone(&self) -> Box<dyn JwsVerifier> {
        Box::new(FullySpecified(self.0.box_clone()))
    }
}

/// A verifier with the `kid` its JWK had, if any.
pub type KeyedVerifier = (Option<String>, std::sync::Arc<Verifier>);

/// A client's JWKS document: every key usable, none private. Keys are returned with their
/// `kid` when they have one (an assertion without `kid` is tried against each key).
pub fn parse_jwks(doc: &Value) -> Result<Vec<KeyedVerifier>, String> {
    let keys = doc["keys"]
        .as_array()
        .ok_or("a JWKS needs a `keys` array")?;
    if keys.is_empty() {
        return Err("the JWKS has no keys".into());
    }
    keys.iter()
        .enumerate()
        .map(|(i, k)| {
            Verifier::from_jwk(k)
                .map(|v| {
                    (
                        k["kid"].as_str().map(str::to_string),
                        std::sync::Arc::new(v),
                    )
                })
                .map_err(|e| format!("keys[{i}]: {e}"))
        })
        .collect()
}

fn unverified_part(jws: &str, index: usize) -> Option<Value> {
    let part = jws.split('.').nth(index)?;
    serde_json::from_slice(&B64URL.decode(part).ok()?).ok()
}

/// A JWS header before verification: only to pick the key to verify with.
pub fn unverified_header(jws: &str) -> Option<Value> {
    unverified_part(jws, 0)
}

/// A JWS payload before verification: only to find who claims to have signed it.
pub fn unverified_claims(jws: &str) -> Option<Value> {
    unverified_part(jws, 1)
}

/// Checks a compact JWS with the verifier its `kid` names: the header's `alg` must be that key's
/// and any `crit` member is refused (Sesame understands no extension). Returns the header and
/// payload as JSON; `None` for anything malformed, unknown or badly signed.
pub fn decode_verified(
    jws: &str,
    verifier_for: impl Fn(Option<&str>) -> Option<std::sync::Arc<Verifier>>,
) -> Option<(Value, Value)> {
    if jws.split('.').count() != 3 {
        return None;
    }
    let header = unverified_header(jws)?;
    let verifier = verifier_for(header["kid"].as_str())?;
    let checker = verifier.for_alg(header["alg"].as_str()?)?;
    let (payload, header) = josekit::jws::deserialize_compact(jws, &*checker).ok()?;
    let payload: Value = serde_json::from_slice(&payload).ok()?;
    Some((Value::Object(header.claims_set().clone()), payload))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Verifies a compact JWS against one JWK; returns the payload.
    pub fn verify_compact(jws: &str, jwk: &Value) -> Option<Vec<u8>> {
        let verifier = std::sync::Arc::new(Verifier::from_jwk(jwk).ok()?);
        decode_verified(jws, |_| Some(verifier.clone()))
            .map(|(_, payload)| payload.to_string().into_bytes())
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        // The RSA key of RFC 7638 §3.1 and its published thumbprint.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let members = [
            ("e", "AQAB".to_string()),
            ("kty", "RSA".to_string()),
            ("n", n.to_string()),
        ];
        assert_eq!(
            thumbprint_of(&members),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    /// A compact JWS of `payload` under `header`, signed by `key` with OpenSSL directly (not
    /// through the code under test), the signature in JWS form for `alg`.
    fn raw_jws(key: &PKey<Private>, alg: Alg, header: &Value, payload: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(payload)
        );
        let signature = match alg {
            Alg::EdDSA => openssl::sign::Signer::new_without_digest(key)
                .unwrap()
                .sign_oneshot_to_vec(input.as_bytes())
                .unwrap(),
            _ => {
                let mut s = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key)
                    .unwrap();
                s.update(input.as_bytes()).unwrap();
                let der = s.sign_to_vec().unwrap();
                if alg == Alg::ES256 {
                    let sig = openssl::ecdsa::EcdsaSig::from_der(&der).unwrap();
                    let mut raw = sig.r().to_vec_padded(32).unwrap();
                    raw.extend(sig.s().to_vec_padded(32).unwrap());
                    raw
                } else {
                    der
                }
            }
        };
        format!("{input}.{}", B64URL.encode(signature))
    }

    #[test]
    fn rsa_keys_under_2048_bits_are_refused() {
        let key = PKey::from_rsa(Rsa::generate(1024).unwrap()).unwrap();
        let rsa = key.rsa().unwrap();
        let jwk = json!({
            "kty": "RSA",
            "n": B64URL.encode(rsa.n().to_vec()),
            "e": B64URL.encode(rsa.e().to_vec()),
        });
        let err = Verifier::from_jwk(&jwk).unwrap_err().to_string();
        assert!(err.contains("2048"), "{err}");
    }

    #[test]
    fn crit_and_a_foreign_alg_are_refused() {
        let key = Alg::ES256.generate().unwrap();
        let jwk = public_jwk(&key, Alg::ES256).unwrap();
        let verifier = std::sync::Arc::new(Verifier::from_jwk(&jwk).unwrap());
        let check = |jws: &str| decode_verified(jws, |_| Some(verifier.clone())).is_some();
        let plain = raw_jws(&key, Alg::ES256, &json!({"alg": "ES256"}), b"{}");
        assert!(check(&plain));
        let (input, signature) = plain.rsplit_once('.').unwrap();
        let signature = B64URL.decode(signature).unwrap();
        assert!(verifier.verify(input.as_bytes(), &signature));
        assert!(!verifier.verify(b"another.input", &signature));
        let crit = raw_jws(
            &key,
            Alg::ES256,
            &json!({"alg": "ES256", "crit": ["exp"], "exp": 1}),
            b"{}",
        );
        assert!(!check(&crit), "an extension Sesame does not know");
        let other = raw_jws(&key, Alg::ES256, &json!({"alg": "ES384"}), b"{}");
        assert!(!check(&other), "the key's algorithm is pinned");
        let none = format!(
            "{}.{}.",
            B64URL.encode(json!({"alg": "none"}).to_string()),
            B64URL.encode("{}")
        );
        assert!(!check(&none));
    }

    #[test]
    fn rfc9864_ed25519_is_accepted_for_an_ed25519_key_and_ed448_is_not() {
        let key = Alg::EdDSA.generate().unwrap();
        let mut jwk = public_jwk(&key, Alg::EdDSA).unwrap();
        jwk["alg"] = json!("Ed25519");
        let verifier = std::sync::Arc::new(Verifier::from_jwk(&jwk).unwrap());
        for alg in ["Ed25519", "EdDSA"] {
            let jws = raw_jws(&key, Alg::EdDSA, &json!({ "alg": alg }), br#"{"a":1}"#);
            let (header, payload) = decode_verified(&jws, |_| Some(verifier.clone())).expect(alg);
            assert_eq!(
                (header["alg"].as_str(), payload["a"].as_i64()),
                (Some(alg), Some(1))
            );
        }
        let ed448 = json!({"kty": "OKP", "crv": "Ed448", "x": B64URL.encode([7u8; 57])});
        assert!(Verifier::from_jwk(&ed448).is_err());
    }

    #[test]
    fn every_algorithm_signs_what_its_jwk_verifies() {
        for alg in Alg::ALL {
            let key = alg.generate().unwrap();
            let jwk = public_jwk(&key, alg).unwrap();
            let signer = Signer::new(key, alg).unwrap();
            assert_eq!(jwk["kid"], json!(signer.kid));
            assert!(jwk.get("d").is_none(), "private member leaked for {alg}");
            let jws = signer.sign_compact("JWT", br#"{"sub":"x"}"#).unwrap();
            assert_eq!(
                verify_compact(&jws, &jwk).as_deref(),
                Some(&br#"{"sub":"x"}"#[..]),
                "{alg}"
            );
            let tampered = jws.replacen("eyJzdWIiOiJ4In0", "eyJzdWIiOiJ5In0", 1);
            assert!(
                verify_compact(&tampered, &jwk).is_none(),
                "{alg} accepted a tampered payload"
            );
        }
    }
}
