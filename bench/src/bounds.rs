//! The machine's bounds, with Sesame's own code: argon2id verifications per second through
//! `sesame::password::Hasher` (the floor of every password sign-in), and RS256 (RSA-2048) and
//! ES256 (P-256) signatures per second through `sesame::keys::jwk::Signer` (josekit on OpenSSL,
//! what signs Sesame's tokens; the floor of every token response).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sesame::keys::jwk::{Alg, Signer};
use sesame::password::Hasher;
use sesame::secret::Secret;

use crate::procs;
use crate::targets::PASSWORD;

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Verifications per second with a hasher of `slots` slots kept full (twice as many callers),
/// over `seconds` after one untimed verification per slot.
pub async fn argon2_rate(slots: usize, seconds: f64) -> f64 {
    let hasher = Hasher::new(slots);
    let phc = sesame::password::hash(&Secret::new(PASSWORD.to_string()));
    let warm: Vec<_> = (0..slots)
        .map(|_| {
            let (h, phc) = (hasher.clone(), phc.clone());
            tokio::spawn(async move { h.verify(phc, Secret::new(PASSWORD.to_string())).await })
        })
        .collect();
    for w in warm {
        let _ = w.await;
    }
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let callers: Vec<_> = (0..slots * 2)
        .map(|_| {
            let (h, phc, done, stop) = (hasher.clone(), phc.clone(), done.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let ok = h
                        .verify(phc.clone(), Secret::new(PASSWORD.to_string()))
                        .await;
                    assert!(ok, "the password verifies against its own hash");
                    if !stop.load(Ordering::Relaxed) {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    for c in callers {
        let _ = c.await;
    }
    done.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64()
}

/// Verifications per second on one core: this binary's `argon2` command with one slot, pinned
/// to `core` with taskset (so it competes with nothing of ours).
pub async fn argon2_rate_on_core(core: usize, seconds: f64) -> Result<f64, String> {
    let exe = procs::current_exe()?;
    let out = tokio::process::Command::new("taskset")
        .arg("-c")
        .arg(core.to_string())
        .arg(exe)
        .args(["argon2", "--slots", "1", "--seconds", &seconds.to_string()])
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("taskset: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("argon2id verifications/s: "))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| {
            format!(
                "the pinned argon2 run printed no rate ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// JWS signatures per second with Sesame's signer on every core (one thread per core, each with
/// its own key of `alg`), signing an access token's worth of claims.
pub fn signatures_per_second(alg: Alg, seconds: f64) -> Result<f64, String> {
    let payload = serde_json::json!({
        "iss": "http://127.0.0.1:9090/t/bench",
        "sub": "bench-svc-rs",
        "aud": "https://api.bench.example",
        "client_id": "bench-svc-rs",
        "scope": "api:read",
        "iat": 1_700_000_000,
        "exp": 1_700_000_300,
        "jti": "0f8fad5b-d9cb-469f-a165-70867728950e",
    })
    .to_string();
    let threads = cores();
    let signers = (0..threads)
        .map(|_| {
            let key = alg.generate().map_err(|e| e.to_string())?;
            Signer::new(key, alg).map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, String>>()?;
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = signers
            .iter()
            .map(|signer| {
                let (stop, payload) = (&stop, payload.as_bytes());
                scope.spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        signer
                            .sign_compact("at+jwt", payload)
                            .expect("a fresh key signs");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
