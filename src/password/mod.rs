//! Password hashing: argon2id with OWASP's parameters (19 MiB, t=2, p=1).
//!
//! The tag is computed by `argon2-rust`, a port of the reference implementation that picks
//! AVX-512, AVX2, SSE2 or NEON at run time (about twice as fast as RustCrypto's `argon2` on an
//! AVX-512 machine; see BENCHMARKS.md). RustCrypto's `argon2` parses and writes the PHC strings,
//! and is the cross-check: before first use the fast engine must give RustCrypto's tag for a set
//! of known inputs, or RustCrypto's computes instead (logged as an error). Same parameters, same
//! PHC strings either way.
//!
//! Each hash needs 19 MiB of working memory, so async callers go through [`Hasher`], which bounds
//! how many run at once (the core count) and gives each running hash one of its reusable memory
//! blocks: memory stays at `slots × 19 MiB` however many sign-ins arrive, instead of 19 MiB
//! allocated per hash on whichever blocking thread runs it (which the allocator's per-thread
//! arenas kept: 400-700 MB measured under 8 sign-ins in flight).
//!
//! Hashes imported from other systems (bcrypt, PBKDF2, scrypt: see [`imported`]) verify too,
//! and are replaced by argon2id at the user's next sign-in ([`needs_rehash`]).

pub mod imported;
pub mod policy;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use argon2::password_hash::{PasswordHash, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::Semaphore;

use crate::secret::Secret;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) with the chosen
/// engine, in working memory of its own that is unmapped after. Blocking.
///
/// Not through RustCrypto's heap-allocated blocks: once a first 19 MiB allocation is freed,
/// glibc serves the later ones from its heaps and keeps them resident after they are freed, so
/// each thread that made one would hold 19 MiB for the process's life (20 MB of the server's
/// peak memory under sign-in load, measured with `bash bench/run`). The server's first hash (the
/// dummy hash of unknown users, at start) runs the engine's check, whose RustCrypto hash is that
/// first allocation; every later hash uses the engine's own mapped memory.
pub fn hash(password: &Secret<String>) -> String {
    hash_in(&mut Memory::new(), password)
}

/// Working memory for argon2, kept by the [`Hasher`] between hashes: the engine's arena for the
/// standard parameters (hashes with other parameters use their own, given back after).
#[derive(Debug, Default)]
pub struct Memory {
    fast: Option<argon2_rust::Hasher>,
    blocks: Vec<Block>,
}

impl Memory {
    pub fn new() -> Self {
        Self::default()
    }

    /// The 1 KiB blocks kept between hashes.
    pub fn len(&self) -> usize {
        self.fast
            .as_ref()
            .map_or(0, argon2_rust::Hasher::reserved_blocks)
            + self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which implementation computes the tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// `argon2-rust` with the SIMD its run-time detection chose.
    Fast,
    /// RustCrypto's `argon2`: only if the fast engine failed its check.
    Reference,
}

static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();

/// The engine, chosen once per process: the fast one if it agrees with RustCrypto's on known
/// inputs (the standard parameters, and small argon2i/argon2d/v1.0 cases).
pub fn engine() -> Engine {
    *ENGINE.get_or_init(|| {
        let cases = [
            (Algorithm::Argon2id, Version::V0x13, 19 * 1024, 2, 1),
            (Algorithm::Argon2i, Version::V0x13, 64, 3, 2),
            (Algorithm::Argon2d, Version::V0x10, 32, 1, 1),
            (Algorithm::Argon2id, Version::V0x13, 256, 1, 4),
        ];
        let agree = cases.iter().all(|&(algorithm, version, m, t, p)| {
            let params = Params::new(m, t, p, None).expect("check parameters are valid");
            let (pw, salt) = (b"sesame engine check", b"sixteen byte salt");
            let mut reference = [0u8; 32];
            let mut fast = [0u8; 32];
            Argon2::new(algorithm, version, params.clone())
                .hash_password_into(pw, salt, &mut reference)
                .is_ok()
                && fast_argon2(algorithm, version, &params, fast.len())
                    .is_some_and(|a| a.hash_into(pw, salt, &mut fast).is_ok())
                && fast == reference
        });
        if agree {
            tracing::info!(backend = ?argon2_rust::detected_backend(), "password hashing: argon2-rust");
            Engine::Fast
        } else {
            tracing::error!(
                backend = ?argon2_rust::detected_backend(),
                "password hashing: argon2-rust disagrees with RustCrypto's argon2 on this machine; using RustCrypto's"
            );
            Engine::Reference
        }
    })
}

/// The fast engine's configuration for these parameters, if it takes them.
fn fast_argon2(
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    tag_len: usize,
) -> Option<argon2_rust::Argon2> {
    use argon2_rust::params::{Memory as Kib, TagLen};
    let algorithm = match algorithm {
        Algorithm::Argon2d => argon2_rust::Algorithm::Argon2d,
        Algorithm::Argon2i => argon2_rust::Algorithm::Argon2i,
        Algorithm::Argon2id => argon2_rust::Algorithm::Argon2id,
    };
    let version = match version {
        Version::V0x10 => argon2_rust::Version::V0x10,
        Version::V0x13 => argon2_rust::Version::V0x13,
    };
    let params = argon2_rust::Params::builder()
        .memory(Kib::kib(params.m_cost() as u64))
        .passes(params.t_cost())
        .lanes(params.p_cost())
        .threads(1)
        .tag_len(TagLen::bytes(tag_len as u64))
        .build()
        .ok()?;
    Some(argon2_rust::Argon2::new(algorithm, version, params))
}

/// Computes the tag into `out` in `memory`; false if the parameters are refused.
fn compute(
    memory: &mut Memory,
    (algorithm, version, params): (Algorithm, Version, &Params),
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> bool {
    let standard = algorithm == Algorithm::Argon2id
        && version == Version::V0x13
        && params.m_cost() == 19 * 1024
        && params.t_cost() == 2
        && params.p_cost() == 1;
    match engine() {
        Engine::Fast => {
            let Some(argon2) = fast_argon2(algorithm, version, params, out.len()) else {
                return false;
            };
            if standard {
                let hasher = memory.fast.get_or_insert_with(|| argon2.hasher());
                hasher.set_argon2(argon2);
                hasher.hash_into(password, salt, out).is_ok()
            } else {
                // Imported parameters: an arena of their own, given back after, so what a slot
                // keeps stays the standard size.
                argon2.hash_into(password, salt, out).is_ok()
            }
        }
        Engine::Reference => {
            let hasher = Argon2::new(algorithm, version, params.clone());
            fit(&mut memory.blocks, hasher.params().block_count());
            let computed = hasher
                .hash_password_into_with_memory(password, salt, out, &mut memory.blocks[..])
                .is_ok();
            let standard = standard_blocks();
            if memory.blocks.len() > standard {
                memory.blocks.truncate(standard);
                memory.blocks.shrink_to_fit();
            }
            computed
        }
    }
}

/// The blocks OWASP's parameters use: what each slot keeps between hashes.
fn standard_blocks() -> usize {
    argon2().params().block_count()
}

/// [`hash`] in the given working memory (grown if it is too small). Blocking.
pub fn hash_in(memory: &mut Memory, password: &Secret<String>) -> String {
    let salt = SaltString::generate(&mut OsRng);
    let mut raw = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut raw).expect("a generated salt decodes");
    let hasher = argon2();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let computed = compute(
        memory,
        (Algorithm::Argon2id, Version::V0x13, hasher.params()),
        password.expose().as_bytes(),
        salt_bytes,
        &mut out,
    );
    assert!(computed, "argon2 hashing with valid parameters cannot fail");
    let output = argon2::password_hash::Output::new(&out).expect("a 32-byte output is valid");
    let params = hasher.params();
    format!(
        "$argon2id$v=19$m={},t={},p={}${}${output}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        salt.as_str()
    )
}

/// [`verify`] in the given working memory: any argon2 variant and parameters the PHC string
/// records (an imported hash may ask for more memory than the standard: the memory grows for it
/// and is given back after, so what a slot keeps stays the standard size). Blocking; the
/// comparison is constant-time.
pub fn verify_in(memory: &mut Memory, phc: &str, password: &Secret<String>) -> bool {
    use subtle::ConstantTimeEq as _;
    match imported::Imported::parse(phc) {
        Ok(Some(other)) => return other.verify(password),
        Ok(None) => {}
        Err(_) => return false,
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Some(expected), Some(salt)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed.hash,
        parsed.salt,
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut raw = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut raw) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let computed = compute(
        memory,
        (algorithm, version, &params),
        password.expose().as_bytes(),
        salt,
        &mut out,
    );
    computed && bool::from(expected.as_bytes().ct_eq(&out))
}

/// Grows `memory` to `blocks` blocks if it is smaller.
fn fit(memory: &mut Vec<Block>, blocks: usize) {
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
}

/// Checks a password against a stored PHC string, using the parameters recorded in the string.
/// Blocking; constant-time comparison inside argon2.
pub fn verify(phc: &str, password: &Secret<String>) -> bool {
    match imported::Imported::parse(phc) {
        Ok(Some(other)) => return other.verify(password),
        Ok(None) => {}
        Err(_) => return false,
    }
    PasswordHash::new(phc)
        .map(|h| {
            argon2()
                .verify_password(password.expose().as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Whether a stored hash is one imported from another system, to be replaced by argon2id once
/// the user's password is known again (argon2 hashes stay as they are, whatever their
/// parameters: an imported argon2 hash may well be stronger than the standard).
pub fn needs_rehash(phc: &str) -> bool {
    matches!(imported::Imported::parse(phc), Ok(Some(_)))
}

/// Accepts a hash for import only if Sesame can verify it at a bounded cost: argon2, or one of
/// the [`imported`] schemes.
pub fn validate_phc(phc: &str) -> Result<(), String> {
    if imported::Imported::parse(phc)?.is_some() {
        return Ok(());
    }
    let parsed = PasswordHash::new(phc).map_err(|e| format!("not a PHC hash string ({e})"))?;
    if !matches!(
        parsed.algorithm.as_str(),
        "argon2id" | "argon2i" | "argon2d"
    ) {
        return Err(format!(
            "unsupported hash algorithm '{}': Sesame verifies argon2, bcrypt, PBKDF2 \
             (pbkdf2, pbkdf2-sha256, pbkdf2-sha512) and scrypt hashes",
            parsed.algorithm
        ));
    }
    if parsed.hash.is_none() || parsed.salt.is_none() {
        return Err("the hash string has no salt or no hash".into());
    }
    // Parameters far above OWASP's would make every sign-in of this user stall a core.
    let params =
        Params::try_from(&parsed).map_err(|e| format!("invalid argon2 parameters ({e})"))?;
    if params.m_cost() > 262_144 || params.t_cost() > 10 || params.p_cost() > 4 {
        return Err("argon2 parameters too costly (limits: m=262144 KiB, t=10, p=4)".into());
    }
    Ok(())
}

/// Runs hashes on the blocking pool, at most `limit` at once.
#[derive(Debug, Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
    /// The slots' working memory, at most one per slot, each taken by the hash that holds the
    /// slot and given back after.
    memories: Arc<std::sync::Mutex<Vec<Memory>>>,
    verifications: Arc<AtomicU64>,
    metrics: HashMetrics,
}

/// What the hasher measures (registered by `crate::metrics`): the wait for a slot shows when
/// sign-ins queue behind the bounded pool, the hash time is the floor of a sign-in.
#[derive(Debug, Clone)]
pub struct HashMetrics {
    pub queue_wait: Family<OperationLabels, Histogram, fn() -> Histogram>,
    pub duration: Family<OperationLabels, Histogram, fn() -> Histogram>,
    pub waiting: Gauge,
    pub slots: Gauge,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OperationLabels {
    operation: &'static str,
}

/// Counts a hash as waiting until dropped, also when the request waiting is given up.
struct Waiting<'a>(&'a Gauge);

impl<'a> Waiting<'a> {
    fn new(gauge: &'a Gauge) -> Self {
        gauge.inc();
        Self(gauge)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn wait_histogram() -> Histogram {
    Histogram::new([
        0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    ])
}

fn hash_histogram() -> Histogram {
    Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
}

impl Default for HashMetrics {
    fn default() -> Self {
        Self {
            queue_wait: Family::new_with_constructor(wait_histogram),
            duration: Family::new_with_constructor(hash_histogram),
            waiting: Gauge::default(),
            slots: Gauge::default(),
        }
    }
}

impl Hasher {
    pub fn new(limit: usize) -> Self {
        let metrics = HashMetrics::default();
        metrics.slots.set(limit.max(1) as i64);
        Self {
            permits: Arc::new(Semaphore::new(limit.max(1))),
            memories: Arc::default(),
            verifications: Arc::default(),
            metrics,
        }
    }

    /// One per core: more concurrent hashes would only queue on the CPU while holding memory.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// How many verifications have run: lets tests check that an unknown user costs a hash too.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// The instruments the hasher records into (for `crate::metrics` to register).
    pub fn metrics(&self) -> &HashMetrics {
        &self.metrics
    }

    /// Traced as a `password verify` span with an `argon2id` child: the time between the two
    /// is the wait for a free slot.
    pub async fn verify(&self, phc: String, password: Secret<String>) -> bool {
        self.verifications.fetch_add(1, Ordering::Relaxed);
        self.run("verify", move |memory| verify_in(memory, &phc, &password))
            .await
            .unwrap_or(false)
    }

    /// Traced as a `password hash` span with an `argon2id` child, like `verify`.
    pub async fn hash(&self, password: Secret<String>) -> Option<String> {
        self.run("hash", move |memory| hash_in(memory, &password))
            .await
    }

    /// Runs `work` on the blocking pool once a slot is free, measuring the wait and the work,
    /// in a `password verify` or `password hash` span.
    async fn run<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Option<T> {
        use tracing::Instrument;
        let span = if operation == "verify" {
            tracing::debug_span!("password verify")
        } else {
            tracing::debug_span!("password hash")
        };
        async {
            let labels = OperationLabels { operation };
            let queued = Instant::now();
            let waiting = Waiting::new(&self.metrics.waiting);
            let _permit = self
                .permits
                .acquire()
                .await
                .expect("semaphore never closes");
            drop(waiting);
            self.metrics
                .queue_wait
                .get_or_create(&labels)
                .observe(queued.elapsed().as_secs_f64());
            let duration = self.metrics.duration.get_or_create_owned(&labels);
            let argon2 = tracing::debug_span!("argon2id");
            // A slot's memory, or a new one the first time the slot is used (at most one per
            // permit, so at most `slots` ever exist).
            let mut memory = self
                .memories
                .lock()
                .expect("memory pool lock")
                .pop()
                .unwrap_or_default();
            let (result, memory) = tokio::task::spawn_blocking(move || {
                argon2.in_scope(|| {
                    let started = Instant::now();
                    let result = work(&mut memory);
                    duration.observe(started.elapsed().as_secs_f64());
                    (result, memory)
                })
            })
            .await
            .ok()?;
            self.memories.lock().expect("memory pool lock").push(memory);
            Some(result)
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher as _;

    /// A PHC string made by RustCrypto's `argon2` alone: the reference the engine is checked
    /// against.
    fn rustcrypto_hash(password: &Secret<String>) -> String {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .expect("argon2 hashing with valid parameters cannot fail")
            .to_string()
    }

    #[test]
    fn hash_uses_owasp_parameters_and_verifies() {
        let pw = Secret::new("correct horse".to_string());
        let phc = hash(&pw);
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify(&phc, &pw));
        assert!(!verify(&phc, &Secret::new("wrong".to_string())));
        assert!(!verify("garbage", &pw));
        assert!(validate_phc(&phc).is_ok());
        assert!(validate_phc("$2b$12$abcdefghijklmnopqrstuv").is_err());
        assert!(
            validate_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ").is_err(),
            "no salt or hash"
        );
        let costly = phc.replace("m=19456", "m=4000000");
        assert!(validate_phc(&costly).is_err());
    }

    #[test]
    fn hashing_in_reused_memory_agrees_with_the_reference_path() {
        let pw = Secret::new("correct horse".to_string());
        let wrong = Secret::new("wrong".to_string());
        let mut memory = Memory::new();
        let pooled = hash_in(&mut memory, &pw);
        assert!(
            pooled.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{pooled}"
        );
        assert_eq!(memory.len(), standard_blocks());
        // Each path verifies what the other made, in memory that held another hash before.
        assert!(verify(&pooled, &pw) && !verify(&pooled, &wrong));
        let reference = rustcrypto_hash(&pw);
        assert!(verify_in(&mut memory, &reference, &pw));
        assert!(!verify_in(&mut memory, &reference, &wrong));
        assert!(!verify_in(&mut memory, "garbage", &pw));
        // An imported hash with other parameters and variant: the memory grows for it, then
        // goes back to the standard size.
        let salt = SaltString::generate(&mut OsRng);
        let params = Params::new(32 * 1024, 3, 1, None).unwrap();
        for algorithm in [Algorithm::Argon2i, Algorithm::Argon2id] {
            let imported = Argon2::new(algorithm, Version::V0x13, params.clone())
                .hash_password(pw.expose().as_bytes(), &salt)
                .unwrap()
                .to_string();
            assert!(verify_in(&mut memory, &imported, &pw), "{imported}");
            assert!(!verify_in(&mut memory, &imported, &wrong));
            assert_eq!(memory.len(), standard_blocks());
        }
        // A tampered hash of another length is refused, not a panic.
        let short = pooled.rsplit_once('$').unwrap().0.to_string() + "$AAAA";
        assert!(!verify_in(&mut memory, &short, &pw));
    }

    #[test]
    fn the_fast_engine_is_chosen_and_agrees_with_rustcrypto() {
        assert_eq!(engine(), Engine::Fast, "argon2-rust failed its check here");
        let mut memory = Memory::new();
        let pw = Secret::new("correct horse".to_string());
        // What the fast engine made verifies with RustCrypto's own verifier, and the reverse.
        let fast = hash_in(&mut memory, &pw);
        assert!(verify(&fast, &pw));
        assert!(verify_in(&mut memory, &rustcrypto_hash(&pw), &pw));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Every variant, version and parameter set an import may carry (small memory, so the
        /// cases run quickly): the fast engine's tag is RustCrypto's, byte for byte.
        #[test]
        fn the_fast_engine_computes_rustcryptos_tags(
            password in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
            salt in proptest::collection::vec(proptest::prelude::any::<u8>(), 8..40),
            variant in 0usize..3,
            v13 in proptest::prelude::any::<bool>(),
            lanes in 1u32..5,
            m_extra in 0u32..64,
            t in 1u32..4,
            tag_len in 4usize..80,
        ) {
            let algorithm = [Algorithm::Argon2d, Algorithm::Argon2i, Algorithm::Argon2id][variant];
            let version = if v13 { Version::V0x13 } else { Version::V0x10 };
            let params = Params::new(8 * lanes + m_extra, t, lanes, Some(tag_len)).unwrap();
            let mut reference = vec![0u8; tag_len];
            Argon2::new(algorithm, version, params.clone())
                .hash_password_into(&password, &salt, &mut reference)
                .unwrap();
            let mut fast = vec![0u8; tag_len];
            let argon2 = fast_argon2(algorithm, version, &params, tag_len).unwrap();
            argon2.hash_into(&password, &salt, &mut fast).unwrap();
            proptest::prop_assert_eq!(&fast, &reference);
            // Through the slot's memory too.
            let mut memory = Memory::new();
            let mut pooled = vec![0u8; tag_len];
            proptest::prop_assert!(compute(&mut memory, (algorithm, version, &params), &password, &salt, &mut pooled));
            proptest::prop_assert_eq!(&pooled, &reference);
        }
    }

    #[tokio::test]
    async fn the_hasher_keeps_one_memory_per_slot() {
        let hasher = Hasher::new(2);
        let pw = Secret::new("x".to_string());
        let hashes = futures_join(&hasher, &pw, 6).await;
        for phc in &hashes {
            assert!(verify(phc, &pw));
        }
        let kept = hasher.memories.lock().unwrap();
        assert!(kept.len() <= 2, "{} memories for 2 slots", kept.len());
        assert!(kept.iter().all(|m| m.len() == standard_blocks()));
    }

    async fn futures_join(hasher: &Hasher, pw: &Secret<String>, n: usize) -> Vec<String> {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (h, pw) = (hasher.clone(), Secret::new(pw.expose().clone()));
                tokio::spawn(async move { h.hash(pw).await.unwrap() })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn bounded_hasher_waits_for_a_free_slot() {
        let hasher = Hasher::new(1);
        // Occupy the only slot, as a running hash would.
        let held = hasher.permits.clone().acquire_owned().await.unwrap();
        let h = hasher.clone();
        let task = tokio::spawn(async move { h.hash(Secret::new("x".to_string())).await });
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(
            !task.is_finished(),
            "a second hash started while the limit was reached"
        );
        drop(held);
        let phc = task.await.unwrap().unwrap();
        assert!(hasher.verify(phc, Secret::new("x".to_string())).await);
    }
}
