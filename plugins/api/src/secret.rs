//! Credentials a plugin's configuration holds without showing them: the name of an environment
//! variable, a file (e.g. a mounted secret), or a value sealed under the server's
//! key-encryption key.
//!
//! The operator names variables and files in the provisioning file. An administrator sets a
//! value through the management API or the console as `{"value": "…"}`: the server seals it
//! while reading the settings (see [`sealing`]) and stores only `{"sealed": "…"}`, which opens
//! on a server holding the same key-encryption key (see [`register`]) and nowhere else. So no
//! credential sits readable in the database, and none needs access to the server's files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

/// A credential a plugin's configuration names or holds sealed. Read from a table only
/// (`{ env = "X" }`), never from a list: whoever checks what a configuration names (the
/// management API refuses new references) looks for tables. Exactly one field is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SecretRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// `{key id}.{ciphertext}`, as a [`Keyring`] sealed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
}

/// The server's key-encryption key as the plugins see it: it seals a value into the text kept
/// in `sealed` and opens that text again.
pub trait Keyring: Send + Sync {
    /// A short name of the key, not derived reversibly from it: sealed texts start with it, so
    /// a server tells a value sealed under another key from a damaged one.
    fn id(&self) -> String;
    /// `{id}.{ciphertext}`.
    fn seal(&self, plaintext: &str) -> Result<String, String>;
    /// The plaintext of what [`Keyring::seal`] made, or why not.
    fn open(&self, sealed: &str) -> Result<String, String>;
}

type Keyrings = RwLock<BTreeMap<String, Arc<dyn Keyring>>>;

/// The keys this process can open sealed values with, by id. Process-wide because plugins
/// resolve their credentials where nothing of the server reaches them.
fn keyrings() -> &'static Keyrings {
    static KEYRINGS: std::sync::OnceLock<Keyrings> = std::sync::OnceLock::new();
    KEYRINGS.get_or_init(Default::default)
}

/// Lets [`SecretRef::resolve`] open values sealed under `key`. The server registers its
/// key-encryption key when it loads it; registering the same key again changes nothing.
pub fn register(key: Arc<dyn Keyring>) {
    let id = key.id();
    let mut all = keyrings().write().unwrap_or_else(|e| e.into_inner());
    all.entry(id).or_insert(key);
}

thread_local! {
    /// The key a `{"value": …}` is sealed with while [`sealing`] runs on this thread.
    static SEALER: std::cell::RefCell<Option<Arc<dyn Keyring>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `read` (a deserialization) so that every `{"value": "…"}` it reads as a [`SecretRef`]
/// is sealed with `key` on the spot: the plaintext never reaches the value read. Outside
/// `sealing`, `{"value": …}` is refused, so a value cannot be stored unsealed by a path that
/// forgot to seal.
pub fn sealing<R>(key: Arc<dyn Keyring>, read: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<dyn Keyring>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SEALER.with(|s| *s.borrow_mut() = previous);
        }
    }
    let previous = SEALER.with(|s| s.borrow_mut().replace(key));
    let _restore = Restore(previous);
    read()
}

/// Why a value is refused where nothing seals it.
pub const VALUE_NOT_SEALED: &str = "a credential's value is taken only by the management API and \
     the console, which seal it: in a provisioning file or the server's settings name an \
     environment variable or a file";

/// Why a credential with no source, or two, is refused.
const ONE_SOURCE: &str = "give exactly one of env, file and value (or sealed, as stored)";

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            env: Option<String>,
            file: Option<PathBuf>,
            sealed: Option<String>,
            value: Option<String>,
        }
        struct Table;
        impl<'de> serde::de::Visitor<'de> for Table {
            type Value = SecretRef;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a table with env, file, value or sealed")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<SecretRef, A::Error> {
                use serde::de::Error;
                let Fields {
                    env,
                    file,
                    sealed,
                    value,
                } = Fields::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                let given = [
                    env.is_some(),
                    file.is_some(),
                    sealed.is_some(),
                    value.is_some(),
                ];
                if given.iter().filter(|g| **g).count() != 1 {
                    return Err(A::Error::custom(ONE_SOURCE));
                }
                let Some(value) = value else {
                    return Ok(SecretRef { env, file, sealed });
                };
                if value.is_empty() {
                    return Err(A::Error::custom("a credential's value cannot be empty"));
                }
                let sealer = SEALER.with(|s| s.borrow().clone());
                let Some(sealer) = sealer else {
                    return Err(A::Error::custom(VALUE_NOT_SEALED));
                };
                let sealed = sealer.seal(&value).map_err(A::Error::custom)?;
                Ok(SecretRef {
                    sealed: Some(sealed),
                    ..SecretRef::default()
                })
            }
        }
        d.deserialize_map(Table)
    }
}

impl SecretRef {
    /// The credential: the variable's value, the file's text without its final newline, or the
    /// sealed value opened.
    pub fn resolve(&self) -> Result<String, String> {
        match (&self.env, &self.file, &self.sealed) {
            (Some(name), None, None) => {
                std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
            }
            (None, Some(path), None) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
            (None, None, Some(sealed)) => {
                let id = sealed.split('.').next().unwrap_or_default();
                let key = keyrings()
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .get(id)
                    .cloned();
                let key = key.ok_or_else(|| {
                    "sealed under a key-encryption key this server does not have: set the \
                     value again"
                        .to_string()
                })?;
                key.open(sealed)
            }
            _ => Err(ONE_SOURCE.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seals by reversing the text: enough to tell sealed from plain.
    struct Mirror(&'static str);

    impl Keyring for Mirror {
        fn id(&self) -> String {
            self.0.into()
        }
        fn seal(&self, plaintext: &str) -> Result<String, String> {
            Ok(format!(
                "{}.{}",
                self.0,
                plaintext.chars().rev().collect::<String>()
            ))
        }
        fn open(&self, sealed: &str) -> Result<String, String> {
            let text = sealed
                .strip_prefix(&format!("{}.", self.0))
                .ok_or("not mine")?;
            Ok(text.chars().rev().collect())
        }
    }

    #[test]
    fn a_secret_is_named_by_a_table_only() {
        let named: SecretRef = serde_json::from_str(r#"{"env": "X"}"#).unwrap();
        assert_eq!(named.env.as_deref(), Some("X"));
        assert!(serde_json::from_str::<SecretRef>(r#"["X", null]"#).is_err());
        assert!(serde_json::from_str::<SecretRef>(r#"{"env": "X", "other": 1}"#).is_err());
        assert!(serde_json::from_str::<SecretRef>(r#"{"env": "X", "file": "/f"}"#).is_err());
        assert!(serde_json::from_str::<SecretRef>(r#"{}"#).is_err());
    }

    #[test]
    fn secrets_come_from_files_without_their_newline() {
        let dir = std::env::temp_dir().join(format!("sesame-secret-{}", std::process::id()));
        std::fs::write(&dir, "s3cret\n").unwrap();
        let s = SecretRef {
            file: Some(dir.clone()),
            ..SecretRef::default()
        };
        assert_eq!(s.resolve().unwrap(), "s3cret");
        std::fs::remove_file(&dir).unwrap();
        assert!(s.resolve().unwrap_err().contains("cannot read"));
        assert!(SecretRef::default().resolve().is_err());
    }

    #[test]
    fn values_are_sealed_while_read_and_refused_otherwise() {
        let value = r#"{"value": "tok-123"}"#;
        let refused = serde_json::from_str::<SecretRef>(value).unwrap_err();
        assert!(
            refused.to_string().contains("provisioning file"),
            "{refused}"
        );
        let key: Arc<dyn Keyring> = Arc::new(Mirror("k1"));
        let read: SecretRef = sealing(key.clone(), || serde_json::from_str(value)).unwrap();
        assert_eq!(read.sealed.as_deref(), Some("k1.321-kot"));
        let stored = serde_json::to_string(&read).unwrap();
        assert_eq!(stored, r#"{"sealed":"k1.321-kot"}"#);
        // Sealing ends with the call.
        assert!(serde_json::from_str::<SecretRef>(value).is_err());
        // Opened by a registered key only.
        let again: SecretRef = serde_json::from_str(&stored).unwrap();
        let unknown = SecretRef {
            sealed: Some("k9.x".into()),
            ..SecretRef::default()
        };
        register(key);
        assert_eq!(again.resolve().unwrap(), "tok-123");
        assert!(unknown.resolve().unwrap_err().contains("does not have"));
        assert!(
            sealing(
                Arc::new(Mirror("k2")),
                || serde_json::from_str::<SecretRef>(r#"{"value": ""}"#)
            )
            .is_err()
        );
    }
}
