//! Values that must never reach a log line, an error message or `Debug` output.

use std::fmt;

use subtle::ConstantTimeEq;

/// Wraps a secret: `Debug` and `Display` print `[redacted]`, equality is constant-time.
///
/// The inner value is reachable only through [`Secret::expose`], so every use is greppable.
#[derive(Clone, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The secret itself. Call only where the value is used, never to print it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T: AsRef<[u8]>> PartialEq for Secret<T> {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_ref().ct_eq(other.0.as_ref()).into()
    }
}

impl<T: AsRef<[u8]>> Eq for Secret<T> {}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Self)
    }
}

/// Lower-case hex SHA-256: how high-entropy secrets (client secrets, codes, tokens) are stored.
/// They carry 256 bits of entropy, so a fast digest cannot be reversed and keeps checks cheap.
pub fn sha256_hex(value: impl AsRef<[u8]>) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(value.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random secret: `bytes` bytes from the OS CSPRNG, base64url without padding.
pub fn random_token(bytes: usize) -> Secret<String> {
    use base64::Engine;
    use rand::TryRngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng
        .try_fill_bytes(&mut buf)
        .expect("the OS random source works");
    Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2-password".to_string());
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2-password");
    }

    #[test]
    fn equality_compares_contents() {
        assert_eq!(Secret::new(b"abc".to_vec()), Secret::new(b"abc".to_vec()));
        assert_ne!(Secret::new(b"abc".to_vec()), Secret::new(b"abd".to_vec()));
        assert_ne!(Secret::new(b"abc".to_vec()), Secret::new(b"abcd".to_vec()));
    }

    #[test]
    fn digests_and_tokens() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let (a, b) = (random_token(32), random_token(32));
        assert_eq!(a.expose().len(), 43);
        assert_ne!(a, b);
    }
}
