//! Key generation, JWK export, RFC 7638 thumbprints and JWS signing for RS256, ES256 and EdDSA.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use openssl::bn::BigNumContext;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
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
    key: PKey<Private>,
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
        Ok(Self { kid, alg, key })
    }

    /// Signs `payload` as a compact JWS with header `{"alg","kid","typ"}`.
    pub fn sign_compact(&self, typ: &str, payload: &[u8]) -> Result<String, KeyError> {
        self.sign_with_header(
            &json!({ "alg": self.alg.as_str(), "kid": self.kid, "typ": typ }),
            payload,
        )
    }

    /// Signs `payload` under a header given whole (its `alg` must be this key's).
    pub fn sign_with_header(&self, header: &Value, payload: &[u8]) -> Result<String, KeyError> {
        let signing_input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(payload)
        );
        let signature = self.sign_raw(signing_input.as_bytes())?;
        Ok(format!("{signing_input}.{}", B64URL.encode(signature)))
    }

    /// The raw JWS signature over `input` (ES256 as the 64-byte `r || s`, RFC 7518 §3.4).
    fn sign_raw(&self, input: &[u8]) -> Result<Vec<u8>, KeyError> {
        use openssl::sign::Signer as OsslSigner;
        Ok(match self.alg {
            Alg::RS256 => {
                let mut s = OsslSigner::new(MessageDigest::sha256(), &self.key)?;
                s.update(input)?;
                s.sign_to_vec()?
            }
            Alg::ES256 => {
                let mut s = OsslSigner::new(MessageDigest::sha256(), &self.key)?;
                s.update(input)?;
                let der = s.sign_to_vec()?;
                let sig = EcdsaSig::from_der(&der)?;
                let mut raw = sig.r().to_vec_padded(32)?;
                raw.extend(sig.s().to_vec_padded(32)?);
                raw
            }
            Alg::EdDSA => OsslSigner::new_without_digest(&self.key)?.sign_oneshot_to_vec(input)?,
        })
    }
}

/// A public key from a published JWK, for checking tokens Sesame signed (with any key still
/// published, not only the active one).
pub struct Verifier {
    pub alg: Alg,
    key: PKey<openssl::pkey::Public>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        use openssl::bn::BigNum;
        let bad = |what: &str| KeyError::Malformed(format!("JWK {what}"));
        let field = |k: &str| -> Result<Vec<u8>, KeyError> {
            B64URL
                .decode(jwk[k].as_str().ok_or_else(|| bad(k))?)
                .map_err(|_| bad(k))
        };
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| jwk.get(m).is_some())
        {
            return Err(KeyError::Malformed(
                "a published JWK must not contain private key members".into(),
            ));
        }
        // `alg` is optional in a JWK: infer it from the key type when absent.
        let alg = match (
            jwk["alg"].as_str(),
            jwk["kty"].as_str(),
            jwk["crv"].as_str(),
        ) {
            (Some(alg), _, _) => Alg::parse(alg).map_err(KeyError::Malformed)?,
            (None, Some("RSA"), _) => Alg::RS256,
            (None, Some("EC"), Some("P-256")) => Alg::ES256,
            (None, Some("OKP"), Some("Ed25519")) => Alg::EdDSA,
            _ => return Err(bad("kty/crv: use RSA, EC P-256 or OKP Ed25519")),
        };
        let expected_kty = match alg {
            Alg::RS256 => "RSA",
            Alg::ES256 => "EC",
            Alg::EdDSA => "OKP",
        };
        if jwk["kty"].as_str() != Some(expected_kty) {
            return Err(bad("kty does not match alg"));
        }
        let key = match alg {
            Alg::RS256 => PKey::from_rsa(Rsa::from_public_components(
                BigNum::from_slice(&field("n")?)?,
                BigNum::from_slice(&field("e")?)?,
            )?)?,
            Alg::ES256 => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
                let x = BigNum::from_slice(&field("x")?)?;
                let y = BigNum::from_slice(&field("y")?)?;
                PKey::from_ec_key(EcKey::from_public_key_affine_coordinates(&group, &x, &y)?)?
            }
            Alg::EdDSA => PKey::public_key_from_raw_bytes(&field("x")?, Id::ED25519)?,
        };
        Ok(Self { alg, key })
    }

    /// Checks a JWS signature (ES256 in its raw `r || s` form).
    pub fn verify(&self, input: &[u8], signature: &[u8]) -> bool {
        use openssl::bn::BigNum;
        use openssl::sign::Verifier as OsslVerifier;
        let result = match self.alg {
            Alg::RS256 => {
                OsslVerifier::new(MessageDigest::sha256(), &self.key).and_then(|mut v| {
                    v.update(input)?;
                    v.verify(signature)
                })
            }
            Alg::ES256 => {
                if signature.len() != 64 {
                    return false;
                }
                let der = BigNum::from_slice(&signature[..32])
                    .and_then(|r| Ok((r, BigNum::from_slice(&signature[32..])?)))
                    .and_then(|(r, s)| EcdsaSig::from_private_components(r, s))
                    .and_then(|sig| sig.to_der());
                match der {
                    Ok(der) => {
                        OsslVerifier::new(MessageDigest::sha256(), &self.key).and_then(|mut v| {
                            v.update(input)?;
                            v.verify(&der)
                        })
                    }
                    Err(_) => return false,
                }
            }
            Alg::EdDSA => OsslVerifier::new_without_digest(&self.key)
                .and_then(|mut v| v.verify_oneshot(signature, input)),
        };
        result.unwrap_or(false)
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

/// Splits a compact JWS and checks it with the verifier its `kid` names. Returns the header and
/// payload as JSON; `None` for anything malformed, unknown or badly signed.
pub fn decode_verified(
    jws: &str,
    verifier_for: impl Fn(Option<&str>) -> Option<std::sync::Arc<Verifier>>,
) -> Option<(Value, Value)> {
    let mut parts = jws.split('.');
    let (h, p, sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: Value = serde_json::from_slice(&B64URL.decode(h).ok()?).ok()?;
    let verifier = verifier_for(header["kid"].as_str())?;
    if header["alg"].as_str()? != verifier.alg.as_str() {
        return None;
    }
    let signature = B64URL.decode(sig).ok()?;
    if !verifier.verify(format!("{h}.{p}").as_bytes(), &signature) {
        return None;
    }
    let payload: Value = serde_json::from_slice(&B64URL.decode(p).ok()?).ok()?;
    Some((header, payload))
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
