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
        let header = json!({ "alg": self.alg.as_str(), "kid": self.kid, "typ": typ });
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use openssl::bn::BigNum;
    use openssl::pkey::Public;

    /// Rebuilds a public key from a JWK, the way a relying party would.
    pub fn public_key_from_jwk(jwk: &Value) -> PKey<Public> {
        let field = |k: &str| B64URL.decode(jwk[k].as_str().unwrap()).unwrap();
        match jwk["kty"].as_str().unwrap() {
            "RSA" => {
                let rsa = Rsa::from_public_components(
                    BigNum::from_slice(&field("n")).unwrap(),
                    BigNum::from_slice(&field("e")).unwrap(),
                )
                .unwrap();
                PKey::from_rsa(rsa).unwrap()
            }
            "EC" => {
                let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
                let ec = EcKey::from_public_key_affine_coordinates(
                    &group,
                    &BigNum::from_slice(&field("x")).unwrap(),
                    &BigNum::from_slice(&field("y")).unwrap(),
                )
                .unwrap();
                PKey::from_ec_key(ec).unwrap()
            }
            "OKP" => PKey::public_key_from_raw_bytes(&field("x"), Id::ED25519).unwrap(),
            other => panic!("unexpected kty {other}"),
        }
    }

    /// Verifies a compact JWS against a JWK; returns the payload.
    pub fn verify_compact(jws: &str, jwk: &Value) -> Option<Vec<u8>> {
        use openssl::sign::Verifier;
        let mut parts = jws.rsplitn(2, '.');
        let sig = B64URL.decode(parts.next()?).ok()?;
        let input = parts.next()?;
        let key = public_key_from_jwk(jwk);
        let ok = match jwk["alg"].as_str()? {
            "RS256" => {
                let mut v = Verifier::new(MessageDigest::sha256(), &key).ok()?;
                v.update(input.as_bytes()).ok()?;
                v.verify(&sig).ok()?
            }
            "ES256" => {
                let r = BigNum::from_slice(&sig[..32]).ok()?;
                let s = BigNum::from_slice(&sig[32..]).ok()?;
                let der = EcdsaSig::from_private_components(r, s)
                    .ok()?
                    .to_der()
                    .ok()?;
                let mut v = Verifier::new(MessageDigest::sha256(), &key).ok()?;
                v.update(input.as_bytes()).ok()?;
                v.verify(&der).ok()?
            }
            "EdDSA" => Verifier::new_without_digest(&key)
                .ok()?
                .verify_oneshot(&sig, input.as_bytes())
                .ok()?,
            _ => false,
        };
        ok.then(|| B64URL.decode(input.split('.').nth(1).unwrap()).unwrap())
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
