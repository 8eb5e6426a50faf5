//! Password hashes brought from another system: bcrypt (`$2a$`, `$2b$`, `$2y$`, `$2x$`: Zitadel,
//! Auth0, most web frameworks), PBKDF2 with SHA-1, SHA-256 or SHA-512 (Keycloak, passlib) and
//! scrypt. They verify as they are; a user's next successful sign-in replaces theirs with
//! argon2id (see `authn::engine::first`), so they are a way in, never kept.
//!
//! Accepted strings, each checked when imported (costs bounded, so one user's hash cannot stall
//! a core for seconds on every guess):
//! - bcrypt, Modular Crypt Format: `$2b$12$` + 22 characters of salt + 31 of hash (also `$2a$`,
//!   `$2y$`; not `$2x$`, whose flawed 8-bit handling no verifier here reproduces); cost 4-14.
//!   As every bcrypt, only a password's first 72 bytes count.
//! - PBKDF2, PHC: `$pbkdf2-sha256$i=27500,l=64$SALT$HASH` (also `pbkdf2-sha512`, and `pbkdf2`
//!   for HMAC-SHA-1), salt and hash
//!   in base64 (standard or passlib's `.` for `+`, padding optional), `l` (the hash's length in
//!   bytes) optional; passlib's `$pbkdf2-sha256$29000$SALT$HASH` too. At least 1,000
//!   iterations, and at most 2,000,000 times the digest blocks the hash spans (a 64-byte hash
//!   is two SHA-256 blocks); a hash of 16-64 bytes. A Keycloak credential (`secretData` `{"value", "salt"}`,
//!   `credentialData` `{"hashIterations", "algorithm": "pbkdf2-sha256"}`) is
//!   `$pbkdf2-sha256$i={hashIterations}${salt}${value}` (see the README).
//! - scrypt, PHC: `$scrypt$ln=15,r=8,p=1$SALT$HASH` (N = 2^ln); at most 64 MiB
//!   (128 · r · N bytes), that times p at most 256 MiB, a hash of 16-64 bytes.

use base64::Engine as _;
use openssl::hash::MessageDigest;
use subtle::ConstantTimeEq as _;

use crate::secret::Secret;

/// The most work one verification may cost (about a second here at most): bcrypt's cost;
/// PBKDF2's iterations times the digest blocks of the hash; scrypt's memory (128 · r · N bytes)
/// and that times p, its work.
const BCRYPT_MAX_COST: u32 = 14;
const PBKDF2_MIN_ITERATIONS: u32 = 1_000;
const PBKDF2_MAX_WORK: u64 = 2_000_000;
const SCRYPT_MAX_BYTES: u64 = 64 * 1024 * 1024;
const SCRYPT_MAX_WORK: u64 = 256 * 1024 * 1024;
const HASH_BYTES: std::ops::RangeInclusive<usize> = 16..=64;

/// The HMAC PBKDF2 runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prf {
    /// `pbkdf2`: Keycloak's `pbkdf2` (its oldest), passlib's `pbkdf2`.
    Sha1,
    Sha256,
    Sha512,
}

/// A hash from another system, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// The whole Modular Crypt Format string, as `bcrypt` reads it.
    Bcrypt(String),
    Pbkdf2 {
        digest: Prf,
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
}

impl Imported {
    /// `Ok(None)` for a string of another scheme (argon2, or none Sesame knows); an error says
    /// what is wrong with one of these schemes.
    pub fn parse(phc: &str) -> Result<Option<Self>, String> {
        let Some(rest) = phc.strip_prefix('$') else {
            return Ok(None);
        };
        let (scheme, rest) = rest.split_once('$').unwrap_or((rest, ""));
        match scheme {
            "2a" | "2b" | "2y" => bcrypt_string(phc, rest).map(Some),
            "2x" => Err(
                "bcrypt $2x$ hashes (crypt_blowfish's flawed handling of 8-bit characters) \
                 cannot be verified: have those users set a new password"
                    .into(),
            ),
            "pbkdf2" => pbkdf2(Prf::Sha1, rest).map(Some),
            "pbkdf2-sha256" => pbkdf2(Prf::Sha256, rest).map(Some),
            "pbkdf2-sha512" => pbkdf2(Prf::Sha512, rest).map(Some),
            "scrypt" => scrypt(rest).map(Some),
            _ => Ok(None),
        }
    }

    /// Whether `password` is the one hashed. Blocking (milliseconds to a second, by the cost
    /// the string records); the comparison is constant-time.
    pub fn verify(&self, password: &Secret<String>) -> bool {
        let password = password.expose().as_bytes();
        match self {
            Self::Bcrypt(mcf) => bcrypt::verify(password, mcf).unwrap_or(false),
            Self::Pbkdf2 {
                digest,
                iterations,
                salt,
                hash,
            } => {
                let digest = match digest {
                    Prf::Sha1 => MessageDigest::sha1(),
                    Prf::Sha256 => MessageDigest::sha256(),
                    Prf::Sha512 => MessageDigest::sha512(),
                };
                let mut out = vec![0u8; hash.len()];
                let Ok(iterations) = usize::try_from(*iterations) else {
                    return false;
                };
                openssl::pkcs5::pbkdf2_hmac(password, salt, iterations, digest, &mut out).is_ok()
                    && bool::from(out.ct_eq(hash))
            }
            Self::Scrypt {
                log_n,
                r,
                p,
                salt,
                hash,
            } => {
                let mut out = vec![0u8; hash.len()];
                let n = 1u64 << log_n;
                // What OpenSSL needs (128·r·N for V, 128·r·p for B), with room for its own use.
                let need = scrypt_bytes(*log_n, *r) + 128 * u64::from(*r) * u64::from(*p);
                openssl::pkcs5::scrypt(
                    password,
                    salt,
                    n,
                    u64::from(*r),
                    u64::from(*p),
                    need + 1024 * 1024,
                    &mut out,
                )
                .is_ok()
                    && bool::from(out.ct_eq(hash))
            }
        }
    }
}

fn bcrypt_string(mcf: &str, rest: &str) -> Result<Imported, String> {
    let (cost, tail) = rest
        .split_once('$')
        .ok_or("a bcrypt hash is $2b$COST$ followed by 53 characters")?;
    let cost: u32 = cost
        .parse()
        .ok()
        .filter(|c| (4..=31).contains(c))
        .ok_or("a bcrypt cost is a number from 04 to 31")?;
    if cost > BCRYPT_MAX_COST {
        return Err(format!(
            "bcrypt cost {cost} is too costly to verify at each sign-in (at most {BCRYPT_MAX_COST})"
        ));
    }
    let bcrypt64 = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '/';
    if tail.len() != 53 || !tail.chars().all(bcrypt64) {
        return Err("a bcrypt hash has 53 characters (salt and hash) after its cost".into());
    }
    // What the verifier itself reads: two-digit cost, a salt in canonical encoding.
    mcf.parse::<bcrypt::HashParts>()
        .map_err(|e| format!("not a bcrypt hash this server can verify ({e})"))?;
    Ok(Imported::Bcrypt(mcf.to_string()))
}

/// Base64 as the schemes write it: standard or passlib's adapted alphabet (`.` for `+`),
/// with or without padding.
fn decode(field: &str, text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim_end_matches('=').replace('.', "+");
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(text.as_bytes())
        .map_err(|_| format!("the {field} is not base64"))
}

/// `PARAMS$SALT$HASH`.
fn parts(rest: &str) -> Result<(&str, Vec<u8>, Vec<u8>), String> {
    let mut parts = rest.split('$');
    let (Some(params), Some(salt), Some(hash), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("expected $SCHEME$PARAMETERS$SALT$HASH".into());
    };
    let (salt, hash) = (decode("salt", salt)?, decode("hash", hash)?);
    if salt.is_empty() || salt.len() > 64 {
        return Err("the salt is 1 to 64 bytes".into());
    }
    if !HASH_BYTES.contains(&hash.len()) {
        return Err(format!(
            "the hash is {} to {} bytes, not {}",
            HASH_BYTES.start(),
            HASH_BYTES.end(),
            hash.len()
        ));
    }
    Ok((params, salt, hash))
}

/// `name=value` pairs, comma-separated; each name at most once.
fn params(text: &str) -> Result<Vec<(&str, u64)>, String> {
    let mut seen = Vec::new();
    for pair in text.split(',') {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("parameter '{pair}' is not name=value"))?;
        let value: u64 = value
            .parse()
            .map_err(|_| format!("parameter {name} is not a number"))?;
        if seen.iter().any(|(n, _)| *n == name) {
            return Err(format!("parameter {name} is given twice"));
        }
        seen.push((name, value));
    }
    Ok(seen)
}

fn pbkdf2(digest: Prf, rest: &str) -> Result<Imported, String> {
    let (text, salt, hash) = parts(rest)?;
    // passlib writes the bare iteration count.
    let (iterations, length) = match text.parse::<u64>() {
        Ok(bare) => (Some(bare), None),
        Err(_) => {
            let mut iterations = None;
            let mut length = None;
            for (name, value) in params(text)? {
                match name {
                    "i" => iterations = Some(value),
                    "l" => length = Some(value),
                    other => return Err(format!("unknown PBKDF2 parameter {other}")),
                }
            }
            (iterations, length)
        }
    };
    let iterations = iterations.ok_or("the iteration count (i=) is missing")?;
    // The digest's blocks the hash spans: each costs all the iterations again.
    let block = match digest {
        Prf::Sha1 => 20,
        Prf::Sha256 => 32,
        Prf::Sha512 => 64,
    };
    let blocks = hash.len().div_ceil(block) as u64;
    if iterations < u64::from(PBKDF2_MIN_ITERATIONS) {
        return Err(format!(
            "PBKDF2 iterations must be at least {PBKDF2_MIN_ITERATIONS}"
        ));
    }
    if iterations.saturating_mul(blocks) > PBKDF2_MAX_WORK {
        return Err(format!(
            "PBKDF2 with {iterations} iterations for a {}-byte hash is too costly to verify at \
             each sign-in (iterations × {block}-byte blocks at most {PBKDF2_MAX_WORK})",
            hash.len()
        ));
    }
    let iterations = u32::try_from(iterations).map_err(|_| "too many PBKDF2 iterations")?;
    if let Some(l) = length
        && l != hash.len() as u64
    {
        return Err(format!("l={l} but the hash is {} bytes", hash.len()));
    }
    Ok(Imported::Pbkdf2 {
        digest,
        iterations,
        salt,
        hash,
    })
}

/// The bytes scrypt's large array takes: 128 · r · N.
fn scrypt_bytes(log_n: u8, r: u32) -> u64 {
    128u64
        .saturating_mul(u64::from(r))
        .saturating_mul(1u64 << log_n.min(63))
}

fn scrypt(rest: &str) -> Result<Imported, String> {
    let (text, salt, hash) = parts(rest)?;
    let (mut log_n, mut r, mut p) = (None, None, None);
    for (name, value) in params(text)? {
        match name {
            "ln" => log_n = Some(value),
            "r" => r = Some(value),
            "p" => p = Some(value),
            other => return Err(format!("unknown scrypt parameter {other}")),
        }
    }
    let log_n = log_n
        .and_then(|v| u8::try_from(v).ok())
        .filter(|v| (1..=30).contains(v))
        .ok_or("ln (log2 of N) is 1 to 30")?;
    let r = r
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| (1..=64).contains(v))
        .ok_or("r is 1 to 64")?;
    let p = p
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| (1..=16).contains(v))
        .ok_or("p is 1 to 16")?;
    if u32::from(log_n) >= 16 * r {
        return Err("scrypt needs N < 2^(16·r): ln too large for this r".into());
    }
    let bytes = scrypt_bytes(log_n, r);
    if bytes > SCRYPT_MAX_BYTES || bytes.saturating_mul(u64::from(p)) > SCRYPT_MAX_WORK {
        return Err(format!(
            "scrypt with ln={log_n}, r={r}, p={p} is too costly to verify at each sign-in (at \
             most {} MiB, and {} MiB times p)",
            SCRYPT_MAX_BYTES / (1024 * 1024),
            SCRYPT_MAX_WORK / (1024 * 1024)
        ));
    }
    Ok(Imported::Scrypt {
        log_n,
        r,
        p,
        salt,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret<String> {
        Secret::new(s.to_string())
    }

    fn verifies(phc: &str, password: &str) -> bool {
        Imported::parse(phc)
            .unwrap_or_else(|e| panic!("{phc}: {e}"))
            .unwrap_or_else(|| panic!("{phc}: not an imported scheme"))
            .verify(&secret(password))
    }

    /// Made by glibc's crypt(3) (libxcrypt), the first the openwall crypt_blowfish test vector.
    #[test]
    fn bcrypt_hashes_of_another_implementation_verify() {
        let openwall = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        assert!(verifies(openwall, "U*U"));
        assert!(!verifies(openwall, "U*U*"));
        let b = "$2b$10$abcdefghijklmnopqrstuuGGgFFcYeueaAql8Z7U7CnCTRw4DR77W";
        assert!(verifies(b, "correct horse battery staple"));
        assert!(!verifies(b, "correct horse battery stapl"));
        let y = "$2y$04$abcdefghijklmnopqrstuu7EJV7kdjBBQxyb0HjTh9KS7.Lah/6CG";
        assert!(verifies(y, "correct horse battery staple"));
    }

    /// Made by Python's hashlib, written as Keycloak's export and passlib write them.
    #[test]
    fn pbkdf2_hashes_verify_in_each_spelling() {
        // hashlib.pbkdf2_hmac('sha256', b'keycloak-pass', b'0123456789abcdef', 27500, 64)
        let salt = "MDEyMzQ1Njc4OWFiY2RlZg==";
        let value = "7dH4iALD2leuAa32jX2outuuuTAblQ9Qu6D1pnw/yjNJbEmBcvMiTRTzkdHNV0wEA2IuC/+ODo7kYTOveznvfQ==";
        let keycloak = format!("$pbkdf2-sha256$i=27500${salt}${value}");
        assert!(verifies(&keycloak, "keycloak-pass"));
        assert!(!verifies(&keycloak, "keycloak-pas"));
        let phc = format!(
            "$pbkdf2-sha256$i=27500,l=64${}${}",
            salt.trim_end_matches('='),
            value.trim_end_matches('=')
        );
        assert!(verifies(&phc, "keycloak-pass"));
        let passlib = format!(
            "$pbkdf2-sha256$27500${}${}",
            salt.trim_end_matches('='),
            value.trim_end_matches('=').replace('+', ".")
        );
        assert!(verifies(&passlib, "keycloak-pass"));
        assert!(Imported::parse(&format!("$pbkdf2-sha256$i=27500,l=32${salt}${value}")).is_err());
        // hashlib.pbkdf2_hmac('sha512', b'keycloak-pass', b'0123456789abcdef', 210000, 64)
        let sha512 = "$pbkdf2-sha512$i=210000$MDEyMzQ1Njc4OWFiY2RlZg$25rs8xm/g2Bcn78VgCMmNEMoU0MU1F++pKVvd4ERSfopXQ61FKlwQwezLLaDOCg44ylebTxh+U+IJOhHjor70A";
        assert!(verifies(sha512, "keycloak-pass"));
        assert!(!verifies(
            &sha512.replace("sha512", "sha256"),
            "keycloak-pass"
        ));
        // hashlib.pbkdf2_hmac('sha1', b'keycloak-pass', b'0123456789abcdef', 20000, 20)
        let sha1 = "$pbkdf2$i=20000$MDEyMzQ1Njc4OWFiY2RlZg$m/sc2iD69QczP1sijWZ+17o8u0E";
        assert!(verifies(sha1, "keycloak-pass"));
    }

    /// Made by Python's hashlib.scrypt.
    #[test]
    fn scrypt_hashes_verify() {
        // hashlib.scrypt(b'pw', salt=b'saltsalt', n=1024, r=8, p=1, dklen=32)
        let phc = "$scrypt$ln=10,r=8,p=1$c2FsdHNhbHQ$YRh2IsHIwK/6T5lIc4QxtEJvR54pdrKplJVcfDPN3lw";
        assert!(verifies(phc, "pw"));
        assert!(!verifies(phc, "pw2"));
    }

    #[test]
    fn costs_and_shapes_are_bounded() {
        let b = "abcdefghijklmnopqrstuuGGgFFcYeueaAql8Z7U7CnCTRw4DR77W";
        assert!(
            Imported::parse(&format!("$2b$15${b}"))
                .unwrap_err()
                .contains("too costly")
        );
        assert!(Imported::parse(&format!("$2b$10${}", &b[1..])).is_err());
        assert!(Imported::parse("$pbkdf2-sha256$i=2000001$c2FsdA$c2FsdHNhbHRzYWx0c2FsdA").is_err());
        // 1,200,000 iterations twice over (a 64-byte SHA-256 hash).
        let sixty_four = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg";
        assert!(
            Imported::parse(&format!("$pbkdf2-sha256$i=1200000$c2FsdA${sixty_four}"))
                .unwrap_err()
                .contains("too costly")
        );
        assert!(Imported::parse(&format!("$pbkdf2-sha512$i=1200000$c2FsdA${sixty_four}")).is_ok());
        assert!(Imported::parse(&format!("$2x$05${b}")).is_err());
        assert!(Imported::parse(&format!("$2b$5${b}")).is_err());
        assert!(Imported::parse("$pbkdf2-sha256$i=999$c2FsdA$c2FsdHNhbHRzYWx0c2FsdA").is_err());
        assert!(Imported::parse("$pbkdf2-sha256$i=1000$c2FsdA$c2FsdA").is_err());
        assert!(
            Imported::parse("$pbkdf2-sha256$i=1000,x=1$c2FsdA$c2FsdHNhbHRzYWx0c2FsdA").is_err()
        );
        for params in ["ln=17,r=8,p=1", "ln=15,r=8,p=16", "ln=16,r=1,p=1"] {
            assert!(
                Imported::parse(&format!("$scrypt${params}$c2FsdA$c2FsdHNhbHRzYWx0c2FsdA"))
                    .is_err(),
                "{params}"
            );
        }
        assert!(Imported::parse("$scrypt$ln=15,r=8,p=2$c2FsdA$c2FsdHNhbHRzYWx0c2FsdA").is_ok());
        assert!(Imported::parse("$scrypt$ln=10,r=8$c2FsdA$c2FsdHNhbHRzYWx0c2FsdA").is_err());
        assert_eq!(
            Imported::parse("$argon2id$v=19$m=19456,t=2,p=1$x$y"),
            Ok(None)
        );
        assert_eq!(Imported::parse("plain"), Ok(None));
    }
}
