//! The load generator: a fixed number of workers, each sending its next request as soon as the
//! previous one is answered (a closed loop, so "8 in flight" means 8 at every moment), timing
//! every request.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What one measurement saw.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Requests (or sign-ins) answered correctly within the window.
    pub ok: u64,
    pub failed: u64,
    /// The measured time the rate is over.
    pub elapsed: Duration,
    /// The latency of each correct answer.
    pub latencies: Vec<Duration>,
    /// The first few failures' reasons.
    pub errors: Vec<String>,
}

const KEPT_ERRORS: usize = 5;

impl Sample {
    pub fn per_second(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Nearest-rank percentile of the latencies, in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> Option<f64> {
        if self.latencies.is_empty() {
            return None;
        }
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        Some(sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1_000.0)
    }

    pub fn add(&mut self, other: Sample) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
        for e in other.errors {
            if self.errors.len() < KEPT_ERRORS {
                self.errors.push(e);
            }
        }
    }

    fn record(&mut self, latency: Duration, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.ok += 1;
                self.latencies.push(latency);
            }
            Err(e) => {
                self.failed += 1;
                if self.errors.len() < KEPT_ERRORS {
                    self.errors.push(e);
                }
            }
        }
    }
}

/// Runs `op(worker)` in `concurrency` closed loops: untimed for `warmup`, then for `measure`.
/// Counted are the answers that arrive inside the measured window (a sign-in that started in
/// the warm-up counts when it ends in the window), so the rate is completions per second of the
/// window; no request is started after it.
pub async fn for_duration<F, Fut>(
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
    op: F,
) -> Sample
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let op = Arc::new(op);
    let start = Instant::now() + warmup;
    let end = start + measure;
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut sample = Sample::default();
                loop {
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let result = op(w).await;
                    let done = Instant::now();
                    if done >= start && done <= end {
                        sample.record(done - sent, result);
                    } else if let Err(e) = result {
                        // A failure is a failure whenever it happens.
                        sample.record(Duration::ZERO, Err(e));
                    }
                }
                sample
            })
        })
        .collect();
    let mut total = Sample::default();
    for worker in workers {
        match worker.await {
            Ok(sample) => total.add(sample),
            Err(e) => total.record(Duration::ZERO, Err(format!("a worker panicked: {e}"))),
        }
    }
    total.elapsed = measure;
    total
}

/// Runs `op(worker, item)` once per item with `concurrency` in flight; the rate is over the
/// whole batch's time.
pub async fn for_items<T, F, Fut>(concurrency: usize, items: Vec<T>, op: F) -> Sample
where
    T: Clone + Send + Sync + 'static,
    F: Fn(usize, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let items = Arc::new(items);
    let next = Arc::new(AtomicUsize::new(0));
    let op = Arc::new(op);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (items, next, op) = (items.clone(), next.clone(), op.clone());
            tokio::spawn(async move {
                let mut sample = Sample::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i).cloned() else {
                        break;
                    };
                    let sent = Instant::now();
                    let result = op(w, item).await;
                    sample.record(sent.elapsed(), result);
                }
                sample
            })
        })
        .collect();
    let mut total = Sample::default();
    for worker in workers {
        match worker.await {
            Ok(sample) => total.add(sample),
            Err(e) => total.record(Duration::ZERO, Err(format!("a worker panicked: {e}"))),
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Runs `op(worker)` with `concurrency` in flight until `count` have succeeded, giving up after
/// `max_failures` failures.
pub async fn until_count<F, Fut>(
    concurrency: usize,
    count: usize,
    max_failures: usize,
    op: F,
) -> Sample
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let op = Arc::new(op);
    let claimed = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (op, claimed, failures) = (op.clone(), claimed.clone(), failures.clone());
            tokio::spawn(async move {
                let mut sample = Sample::default();
                while failures.load(Ordering::Relaxed) < max_failures {
                    if claimed.fetch_add(1, Ordering::Relaxed) >= count {
                        break;
                    }
                    let sent = Instant::now();
                    let result = op(w).await;
                    if result.is_err() {
                        failures.fetch_add(1, Ordering::Relaxed);
                        // The failed one is tried again by someone.
                        claimed.fetch_sub(1, Ordering::Relaxed);
                    }
                    sample.record(sent.elapsed(), result);
                }
                sample
            })
        })
        .collect();
    let mut total = Sample::default();
    for worker in workers {
        match worker.await {
            Ok(sample) => total.add(sample),
            Err(e) => total.record(Duration::ZERO, Err(format!("a worker panicked: {e}"))),
        }
    }
    total.elapsed = started.elapsed();
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let sample = Sample {
            ok: 100,
            latencies: (1..=100).map(Duration::from_millis).collect(),
            elapsed: Duration::from_secs(2),
            ..Sample::default()
        };
        assert_eq!(sample.percentile_ms(50.0), Some(50.0));
        assert_eq!(sample.percentile_ms(99.0), Some(99.0));
        assert_eq!(sample.per_second(), 50.0);
        assert_eq!(Sample::default().percentile_ms(50.0), None);
    }

    #[tokio::test]
    async fn every_item_runs_once_and_failures_are_counted() {
        let sample = for_items(3, (0..10).collect::<Vec<u32>>(), |_, i| async move {
            if i % 5 == 0 {
                Err(format!("item {i}"))
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!((sample.ok, sample.failed), (8, 2));
        assert_eq!(sample.errors.len(), 2);
    }

    #[tokio::test]
    async fn until_count_stops_at_the_count() {
        let sample = until_count(4, 25, 10, |_| async { Ok(()) }).await;
        assert_eq!((sample.ok, sample.failed), (25, 0));
    }
}
