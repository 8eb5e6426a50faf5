//! The key-encryption key: encrypts signing keys (and later other secrets) at rest with
//! AES-256-GCM. It lives outside the database, so a stolen database holds no usable private key.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use openssl::symm::{Cipher, decrypt_aead, encrypt_aead};

use super::jwk::KeyError;
use crate::config::{ConfigError, KeySource, parse_key};
use crate::secret::Secret;

/// Format version byte of a sealed value: `1 || nonce(12) || tag(16) || ciphertext`.
const VERSION: u8 = 1;

#[derive(Debug, Clone)]
pub struct Kek(Secret<[u8; 32]>);

/// HMAC-SHA256 (subkeys here; webhook signatures in `events::hub`).
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Result<[u8; 32], openssl::error::ErrorStack> {
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::sign::Signer;
    let pkey = PKey::hmac(key)?;
    let mut signer = Signer::new(MessageDigest::sha256(), &pkey)?;
    signer.update(data)?;
    let mut out = [0u8; 32];
    signer.sign(&mut out)?;
    Ok(out)
}

impl Kek {
    pub fn new(key: Secret<[u8; 32]>) -> Self {
        Self(key)
    }

    /// Loads the key the settings point at. For [`KeySource::Development`] a missing file is
    /// created (mode 0600) when `create` is true (only `serve` does: a CLI command that made its
    /// own key would seal new signing keys the server cannot open), and the returned warning
    /// says so loudly.
    pub fn resolve(
        source: &KeySource,
        create: bool,
    ) -> Result<(Self, Option<String>), ConfigError> {
        let read = |path: &Path, setting: &str| -> Result<Self, ConfigError> {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                setting: setting.into(),
                message: format!("cannot read {}: {e}", path.display()),
            })?;
            parse_key(&text).map(Self).map_err(|message| ConfigError {
                setting: setting.into(),
                message: format!("{}: {message}", path.display()),
            })
        };
        let (kek, warning) = match source {
            KeySource::Inline(key) => (Self(key.clone()), None),
            KeySource::File(path) => (read(path, "SESAME_KEY_ENCRYPTION_KEY_FILE")?, None),
            KeySource::Development(path) => {
                let setting = "SESAME_KEY_ENCRYPTION_KEY";
                if !path.exists() && !create {
                    return Err(ConfigError {
                        setting: setting.into(),
                        message: format!(
                            "no key-encryption key configured and no development key file at {}: \
                             configure the server's key, or run `sesame serve` once to create it",
                            path.display()
                        ),
                    });
                }
                if !path.exists() {
                    create_key_file(path).map_err(|e| ConfigError {
                        setting: setting.into(),
                        message: format!(
                            "no key configured and cannot create {}: {e}",
                            path.display()
                        ),
                    })?;
                }
                let warning = format!(
                    "no key-encryption key configured: using the development key file {}. In \
                     production set SESAME_KEY_ENCRYPTION_KEY or SESAME_KEY_ENCRYPTION_KEY_FILE \
                     and keep the key away from the database",
                    path.display()
                );
                (read(path, setting)?, Some(warning))
            }
        };
        sesame_plugin_api::secret::register(kek.keyring());
        Ok((kek, warning))
    }

    /// This key as the plugins see it: what seals the credentials administrators set and opens
    /// them where a plugin reads them (see [`sesame_plugin_api::secret`]).
    pub fn keyring(&self) -> std::sync::Arc<dyn sesame_plugin_api::secret::Keyring> {
        std::sync::Arc::new(self.clone())
    }

    /// Encrypts `plaintext`; `context` (e.g. organization and kid) is authenticated, so a sealed
    /// value copied to another row does not decrypt.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0u8; 12];
        openssl::rand::rand_bytes(&mut nonce)?;
        let mut tag = [0u8; 16];
        let ct = encrypt_aead(
            Cipher::aes_256_gcm(),
            self.0.expose(),
            Some(&nonce),
            context,
            plaintext,
            &mut tag,
        )?;
        let mut out = Vec::with_capacity(1 + 12 + 16 + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&tag);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// HMAC-SHA256 of `data` under a subkey for `purpose`, so one key never serves two
    /// algorithms or two uses. For values that must be checked but not stored (form tokens).
    pub fn mac(&self, purpose: &str, data: &[u8]) -> Result<[u8; 32], KeyError> {
        let subkey = hmac_sha256(
            self.0.expose(),
            format!("sesame-mac-v1/{purpose}").as_bytes(),
        )?;
        Ok(hmac_sha256(&subkey, data)?)
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, KeyError> {
        if sealed.len() < 29 || sealed[0] != VERSION {
            return Err(KeyError::Malformed("unknown sealed format".into()));
        }
        let (nonce, rest) = sealed[1..].split_at(12);
        let (tag, ct) = rest.split_at(16);
        decrypt_aead(
            Cipher::aes_256_gcm(),
            self.0.expose(),
            Some(nonce),
            context,
            ct,
            tag,
        )
        .map_err(|_| KeyError::Decrypt)
    }
}

/// What a sealed credential's ciphertext is bound to: one use of the key, apart from signing
/// keys and the rest.
const CREDENTIAL_CONTEXT: &[u8] = b"sesame/credential/v1";

impl sesame_plugin_api::secret::Keyring for Kek {
    fn id(&self) -> String {
        match self.mac("credential-key-id", b"") {
            Ok(mac) => mac[..6].iter().map(|b| format!("{b:02x}")).collect(),
            Err(_) => "unknown".into(),
        }
    }

    fn seal(&self, plaintext: &str) -> Result<String, String> {
        let sealed = Kek::seal(self, plaintext.as_bytes(), CREDENTIAL_CONTEXT)
            .map_err(|e| format!("cannot seal the value: {e}"))?;
        Ok(format!("{}.{}", self.id(), BASE64.encode(sealed)))
    }

    fn open(&self, sealed: &str) -> Result<String, String> {
        let damaged = || "the sealed value is damaged: set the value again".to_string();
        let (_, text) = sealed.split_once('.').ok_or_else(damaged)?;
        let bytes = BASE64.decode(text).map_err(|_| damaged())?;
        let plain = Kek::open(self, &bytes, CREDENTIAL_CONTEXT).map_err(|_| damaged())?;
        String::from_utf8(plain).map_err(|_| damaged())
    }
}

fn create_key_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut key = [0u8; 32];
    openssl::rand::rand_bytes(&mut key).map_err(std::io::Error::other)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(BASE64.encode(key).as_bytes())?;
    file.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_context_binding() {
        let kek = Kek::new(Secret::new([7u8; 32]));
        let sealed = kek.seal(b"private key bytes", b"org:1:kid:a").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"private"));
        assert_eq!(
            kek.open(&sealed, b"org:1:kid:a").unwrap(),
            b"private key bytes"
        );
        assert!(kek.open(&sealed, b"org:2:kid:a").is_err());
        let other = Kek::new(Secret::new([8u8; 32]));
        assert!(other.open(&sealed, b"org:1:kid:a").is_err());
    }

    #[test]
    fn credentials_seal_under_the_key_and_open_where_it_is_registered() {
        use sesame_plugin_api::secret::{Keyring, SecretRef, register, sealing};
        let kek = Kek::new(Secret::new([11u8; 32]));
        let read: SecretRef = sealing(kek.keyring(), || {
            serde_json::from_value(serde_json::json!({"value": "twilio-token"}))
        })
        .unwrap();
        let sealed = read.sealed.clone().unwrap();
        assert!(sealed.starts_with(&format!("{}.", kek.id())), "{sealed}");
        assert!(!sealed.contains("twilio"));
        let other = Kek::new(Secret::new([12u8; 32]));
        assert_ne!(kek.id(), other.id());
        assert!(Keyring::open(&other, &sealed).is_err());
        register(kek.keyring());
        assert_eq!(read.resolve().unwrap(), "twilio-token");
        let damaged = format!("{}x", &sealed[..sealed.len() - 4]);
        assert!(
            Keyring::open(&kek, &damaged)
                .unwrap_err()
                .contains("damaged")
        );
    }

    #[test]
    fn macs_depend_on_purpose_data_and_key() {
        let kek = Kek::new(Secret::new([7u8; 32]));
        let a = kek.mac("logout", b"x").unwrap();
        assert_eq!(a, kek.mac("logout", b"x").unwrap());
        assert_ne!(a, kek.mac("other", b"x").unwrap());
        assert_ne!(a, kek.mac("logout", b"y").unwrap());
        assert_ne!(
            a,
            Kek::new(Secret::new([8u8; 32]))
                .mac("logout", b"x")
                .unwrap()
        );
    }

    #[test]
    fn development_key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/kek");
        let (k1, warning) = Kek::resolve(&KeySource::Development(path.clone()), true).unwrap();
        assert!(warning.unwrap().contains("development"));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let (k2, _) = Kek::resolve(&KeySource::Development(path), false).unwrap();
        let missing = dir.path().join("none");
        assert!(Kek::resolve(&KeySource::Development(missing.clone()), false).is_err());
        assert!(!missing.exists(), "the CLI never creates a key");
        let sealed = k1.seal(b"x", b"c").unwrap();
        assert_eq!(k2.open(&sealed, b"c").unwrap(), b"x");
    }
}
