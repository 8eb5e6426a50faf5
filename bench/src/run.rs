//! The run: start the three targets, alternate rounds, the sessions, the per-core mode, the
//! report; stop everything on the way out.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use sesame::keys::jwk::Alg;
use sesame::secret::Secret;
use tokio::signal::unix::{SignalKind, signal};

use crate::Plan;
use crate::bounds;
use crate::flows::{self, Browser, Pkce};
use crate::load::{self, Sample};
use crate::procs::{self, Procs};
use crate::report::{Figure, Results, Round, fmt_rate};
use crate::sms::{self, Inbox};
use crate::targets::{self, Kind, PASSWORD, SVC_ES256, SVC_RS256, SesameSetup, Target, User};

/// Codes minted per batch before they are exchanged: fresh (they live 60 s on both sides) and
/// within the peer's in-memory store (an LRU of 1,000 entries).
const CODE_BATCH: usize = 100;
/// Sign-ins that may fail during the sessions phase before it gives up.
const MAX_SESSION_FAILURES: usize = 50;

pub async fn main(plan: Plan) -> i32 {
    let procs = Arc::new(Procs::default());
    let work = match tempfile::Builder::new().prefix("sesame-bench-").tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("sesame-bench: a work directory: {e}");
            return 2;
        }
    };
    let outcome = tokio::select! {
        outcome = run(&plan, &procs, work.path()) => outcome,
        name = stopped() => Err(format!("stopped by {name}")),
    };
    procs.stop_all().await;
    if plan.args.keep {
        let kept = work.keep();
        eprintln!("work directory kept: {}", kept.display());
    }
    match outcome {
        Ok(results) => {
            println!("{}", results.render());
            let failed = results.failed_total();
            if failed > 0 {
                eprintln!("sesame-bench: {failed} request(s) or sign-in(s) failed (see Failures)");
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("sesame-bench: {e}");
            1
        }
    }
}

/// Resolves on SIGINT, SIGTERM or SIGHUP, with the signal's name.
async fn stopped() -> &'static str {
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
    }
}

/// What every figure needs.
#[derive(Debug, Clone)]
struct Ctx {
    http: reqwest::Client,
    inbox: Inbox,
    concurrency: usize,
}

/// Each target's users: an in-flight sign-in takes one and gives it back after, so no user ever
/// has two sign-ins at once (which the lock policy would rightly see as a burst).
#[derive(Debug)]
struct Pool {
    free: Mutex<VecDeque<usize>>,
}

impl Pool {
    fn new(users: usize) -> Self {
        Self {
            free: Mutex::new((0..users).collect()),
        }
    }

    fn take(&self) -> Result<usize, String> {
        self.free
            .lock()
            .expect("user pool")
            .pop_front()
            .ok_or_else(|| "no free user".to_string())
    }

    fn give_back(&self, i: usize) {
        self.free.lock().expect("user pool").push_back(i);
    }
}

/// A full sign-in as a load-generator operation; counts the target's completed sign-ins
/// (its sessions).
#[derive(Debug, Clone)]
struct SignInOp {
    ctx: Ctx,
    target: Arc<Target>,
    pool: Arc<Pool>,
    done: Arc<AtomicUsize>,
}

impl SignInOp {
    async fn call(&self) -> Result<Browser, String> {
        let i = self.pool.take()?;
        let result =
            flows::sign_in(&self.ctx.http, &self.ctx.inbox, &self.target, &User::nth(i)).await;
        self.pool.give_back(i);
        if result.is_ok() {
            self.done.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Sign-ins for `warmup` then `measure`, with the largest VmRSS sampled meanwhile (kB).
    async fn measure(&self, warmup: Duration, measure: Duration) -> (Sample, u64) {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let sampler = {
            let (stop, peak, pid) = (stop.clone(), peak.clone(), self.target.pid);
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    if let Some((rss, _)) = procs::memory_kb(pid) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let op = self.clone();
        let sample = load::for_duration(self.ctx.concurrency, warmup, measure, move |_| {
            let op = op.clone();
            async move { op.call().await.map(|_| ()) }
        })
        .await;
        stop.store(true, Ordering::Relaxed);
        let _ = sampler.await;
        (sample, peak.load(Ordering::Relaxed))
    }
}

async fn run(plan: &Plan, procs: &Procs, work: &Path) -> Result<Results, String> {
    let args = &plan.args;
    let cores = bounds::cores();
    let mut results = Results {
        rounds: plan.rounds,
        concurrency: args.concurrency,
        sessions: plan.sessions,
        machine: machine(),
        load_before: loadavg(),
        ..Results::default()
    };
    eprintln!("{}", results.machine);
    eprintln!("load average: {}", results.load_before);
    eprintln!("work directory: {}", work.display());

    let (inbox, sms_port) = sms::start()?;
    let ctx = Ctx {
        http: flows::client(),
        inbox,
        concurrency: args.concurrency,
    };
    // One hash for every user on both sides: the same PHC string, m=19456 t=2 p=1.
    let phc = sesame::password::hash(&Secret::new(PASSWORD.to_string()));
    let kek = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>());

    eprintln!("== preparing: {} users on each side", plan.users);
    let setup = SesameSetup {
        binary: &args.sesame,
        work,
        sms_port,
        phc: &phc,
        kek: &kek,
        users: plan.users,
    };
    let mut specs = vec![targets::prepare_sesame(&setup, Kind::SesameSqlite, None).await?];
    match &args.pg_url {
        Some(url) => {
            specs.push(targets::prepare_sesame(&setup, Kind::SesamePostgres, Some(url)).await?)
        }
        None => eprintln!("no --pg-url: Sesame on PostgreSQL is not run"),
    }
    specs.push(targets::prepare_peer(
        &args.node,
        &args.peer_dir,
        work,
        &phc,
        plan.users,
    )?);
    results.kinds = specs.iter().map(|s| s.kind).collect();

    let mut running = Vec::new();
    for spec in &specs {
        let target = targets::start(procs, &ctx.http, spec, None).await?;
        eprintln!(
            "{} started (pid {}, {})",
            target.name(),
            target.pid,
            target.spec.issuer
        );
        running.push(Arc::new(target));
    }
    // Idle: started, discovery answered once, nothing else.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for t in &running {
        let memory = results.memory.entry(t.kind()).or_default();
        memory.idle = procs::memory_kb(t.pid);
    }

    let pools: BTreeMap<Kind, Arc<Pool>> = specs
        .iter()
        .map(|s| (s.kind, Arc::new(Pool::new(plan.users))))
        .collect();
    let done: BTreeMap<Kind, Arc<AtomicUsize>> =
        specs.iter().map(|s| (s.kind, Arc::default())).collect();
    let op_for = |t: &Arc<Target>| SignInOp {
        ctx: ctx.clone(),
        target: t.clone(),
        pool: pools[&t.kind()].clone(),
        done: done[&t.kind()].clone(),
    };

    for round in 0..plan.rounds {
        eprintln!("== round {}/{}", round + 1, plan.rounds);
        measure_bounds(plan, &mut results).await?;
        for k in 0..running.len() {
            let t = &running[(round + k) % running.len()];
            run_target_round(plan, &ctx, &op_for(t), &mut results).await;
        }
    }

    eprintln!(
        "== sessions: each target up to {} full sign-ins",
        plan.sessions
    );
    for t in &running {
        let op = op_for(t);
        let so_far = op.done.load(Ordering::Relaxed);
        if so_far < plan.sessions {
            let op2 = op.clone();
            let sample = load::until_count(
                args.concurrency,
                plan.sessions - so_far,
                MAX_SESSION_FAILURES,
                move |_| {
                    let op = op2.clone();
                    async move { op.call().await.map(|_| ()) }
                },
            )
            .await;
            results.count_failures("sessions", t.kind(), &sample);
            eprintln!(
                "{}: {} more sign-ins in {:.0} s ({} failed)",
                t.name(),
                sample.ok,
                sample.elapsed.as_secs_f64(),
                sample.failed
            );
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        let memory = results.memory.entry(t.kind()).or_default();
        memory.after_sessions = procs::memory_kb(t.pid);
        memory.sessions_done = op.done.load(Ordering::Relaxed);
    }

    if args.no_per_core {
        results.per_core_skipped = Some("--no-per-core".into());
    } else if cores < 2 {
        results.per_core_skipped = Some(format!("{cores} core(s): it needs two"));
    } else {
        for t in running.drain(..) {
            procs.stop(t.pid).await;
        }
        per_core(plan, procs, &ctx, &specs, &pools, &done, &mut results).await?;
    }
    for t in running {
        procs.stop(t.pid).await;
    }
    results.load_after = loadavg();
    results.sms = ctx.inbox.counts();
    Ok(results)
}

/// The bounds of this round: argon2id on all cores and on core 0, RSA-2048 and P-256 signing.
async fn measure_bounds(plan: &Plan, results: &mut Results) -> Result<(), String> {
    let cores = bounds::cores();
    let all = bounds::argon2_rate(cores, plan.bound_seconds).await;
    let one = bounds::argon2_rate_on_core(0, plan.bound_seconds).await?;
    let seconds = plan.bound_seconds;
    let rsa =
        tokio::task::spawn_blocking(move || bounds::signatures_per_second(Alg::RS256, seconds))
            .await
            .map_err(|e| e.to_string())??;
    let p256 =
        tokio::task::spawn_blocking(move || bounds::signatures_per_second(Alg::ES256, seconds))
            .await
            .map_err(|e| e.to_string())??;
    eprintln!(
        "bounds: argon2id {}/s all cores, {}/s one core; RS256 {}/s, ES256 {}/s",
        fmt_rate(all),
        fmt_rate(one),
        fmt_rate(rsa),
        fmt_rate(p256)
    );
    results.argon2_all_cores.push(all);
    results.argon2_one_core.push(one);
    results.rsa2048.push(rsa);
    results.p256.push(p256);
    Ok(())
}

/// Prints one figure of a round.
fn progress(t: &Target, figure: Figure, sample: &Sample) {
    let latency = match (sample.percentile_ms(50.0), sample.percentile_ms(99.0)) {
        (Some(p50), Some(p99)) if figure == Figure::SignIn => {
            format!("  p50 {p50:.0} ms  p99 {p99:.0} ms")
        }
        _ => String::new(),
    };
    let failed = if sample.failed > 0 {
        format!(
            "  ({} FAILED: {})",
            sample.failed,
            sample.errors.first().map_or("", |e| e)
        )
    } else {
        String::new()
    };
    eprintln!(
        "  {:<18} {:<36} {:>9}{latency}{failed}",
        t.name(),
        figure.label(),
        fmt_rate(sample.per_second())
    );
}

/// Every figure of one target, once.
async fn run_target_round(plan: &Plan, ctx: &Ctx, op: &SignInOp, results: &mut Results) {
    let t = &op.target;
    let kind = t.kind();
    let warmup = Duration::from_secs_f64(plan.warmup_seconds);
    let measure = Duration::from_secs_f64(plan.seconds);

    let (sample, peak) = op
        .measure(warmup, Duration::from_secs_f64(plan.signin_seconds))
        .await;
    progress(t, Figure::SignIn, &sample);
    results.record(Figure::SignIn, kind, &sample);
    let memory = results.memory.entry(kind).or_default();
    memory.peak_under_signins = memory.peak_under_signins.max(peak);

    // A browser with an SSO session: it mints authorization codes without a sign-in each.
    let browser = match op.call().await {
        Ok(browser) => browser,
        Err(e) => {
            // Counted; this target's other figures are left out of this round.
            setup_failed(results, kind, format!("a sign-in to mint codes: {e}"));
            return;
        }
    };

    let sample = exchange_figure(ctx, t, &browser, plan.seconds).await;
    progress(t, Figure::Exchange, &sample);
    results.record(Figure::Exchange, kind, &sample);

    for (figure, client, alg) in [
        (Figure::CcRs256, SVC_RS256, "RS256"),
        (Figure::CcEs256, SVC_ES256, "ES256"),
    ] {
        // The algorithm is checked once: a figure is only what it says it is.
        let token = match flows::client_credentials(&ctx.http, t, client).await {
            Ok(token) => token,
            Err(e) => {
                setup_failed(results, kind, format!("{client}: {e}"));
                continue;
            }
        };
        let signed = flows::jws_part(&token, 0).and_then(|h| h["alg"].as_str().map(String::from));
        if signed.as_deref() != Some(alg) {
            results.na.insert(
                (figure, kind),
                format!("access tokens signed {}", signed.as_deref().unwrap_or("?")),
            );
            continue;
        }
        let (http, target) = (ctx.http.clone(), t.clone());
        let sample = load::for_duration(ctx.concurrency, warmup, measure, move |_| {
            let (http, target) = (http.clone(), target.clone());
            async move {
                flows::client_credentials(&http, &target, client)
                    .await
                    .map(|_| ())
            }
        })
        .await;
        progress(t, figure, &sample);
        results.record(figure, kind, &sample);
    }

    match refresh_figure(ctx, t, &browser, warmup, measure).await {
        Ok(sample) => {
            progress(t, Figure::Refresh, &sample);
            results.record(Figure::Refresh, kind, &sample);
        }
        Err(e) => setup_failed(results, kind, format!("refresh tokens: {e}")),
    }

    // UserInfo with a fresh access token (they live 5 minutes on both sides).
    match fresh_tokens(ctx, t, &browser).await {
        Ok(tokens) => {
            let access: Arc<str> = tokens["access_token"].as_str().unwrap_or_default().into();
            let (http, target) = (ctx.http.clone(), t.clone());
            let sample = load::for_duration(ctx.concurrency, warmup, measure, move |_| {
                let (http, target, access) = (http.clone(), target.clone(), access.clone());
                async move { flows::userinfo(&http, &target, &access).await }
            })
            .await;
            progress(t, Figure::UserInfo, &sample);
            results.record(Figure::UserInfo, kind, &sample);
        }
        Err(e) => setup_failed(results, kind, format!("an access token: {e}")),
    }

    for (figure, url, member) in [
        (Figure::Jwks, t.jwks.clone(), "keys"),
        (Figure::Discovery, t.discovery.clone(), "issuer"),
    ] {
        let http = ctx.http.clone();
        let url: Arc<str> = url.into();
        let sample = load::for_duration(ctx.concurrency, warmup, measure, move |_| {
            let (http, url) = (http.clone(), url.clone());
            async move { flows::get_json(&http, &url, member).await }
        })
        .await;
        progress(t, figure, &sample);
        results.record(figure, kind, &sample);
    }
}

/// A request a figure needs before it is measured failed: counted with the failures.
fn setup_failed(results: &mut Results, kind: Kind, error: String) {
    eprintln!("  {:<18} FAILED to prepare a figure: {error}", kind.name());
    let sample = Sample {
        failed: 1,
        errors: vec![error],
        ..Sample::default()
    };
    results.count_failures("preparing a figure", kind, &sample);
}

/// Refreshes: one rotating chain per worker, each from its own code exchange. An error is a
/// failure to prepare them.
async fn refresh_figure(
    ctx: &Ctx,
    t: &Arc<Target>,
    browser: &Browser,
    warmup: Duration,
    measure: Duration,
) -> Result<Sample, String> {
    let mut chains = Vec::new();
    for _ in 0..ctx.concurrency {
        let tokens = fresh_tokens(ctx, t, browser).await?;
        let rt = tokens["refresh_token"]
            .as_str()
            .ok_or_else(|| format!("no refresh token: {tokens}"))?;
        chains.push(tokio::sync::Mutex::new(rt.to_string()));
    }
    let chains = Arc::new(chains);
    let (http, target) = (ctx.http.clone(), t.clone());
    Ok(
        load::for_duration(ctx.concurrency, warmup, measure, move |w| {
            let (http, target, chains) = (http.clone(), target.clone(), chains.clone());
            async move {
                let mut chain = chains[w].lock().await;
                *chain = flows::refresh(&http, &target, &chain).await?;
                Ok(())
            }
        })
        .await,
    )
}

/// A code minted and exchanged: a new token response for the signed-in browser's user.
async fn fresh_tokens(
    ctx: &Ctx,
    t: &Target,
    browser: &Browser,
) -> Result<serde_json::Value, String> {
    let pkce = Pkce::new();
    let code = flows::mint_code(browser, t, &pkce).await?;
    flows::exchange(&ctx.http, t, &code, &pkce.verifier).await
}

/// Code exchanges: batches of codes minted (untimed, 8 at once), then exchanged (timed, 8 in
/// flight), until `seconds` of exchanging were measured. One untimed batch first.
async fn exchange_figure(ctx: &Ctx, t: &Arc<Target>, browser: &Browser, seconds: f64) -> Sample {
    let pkce = Arc::new(Pkce::new());
    let mut total = Sample::default();
    let mut minting = Sample::default();
    let mut first = true;
    while first || total.elapsed.as_secs_f64() < seconds {
        let codes = Arc::new(Mutex::new(Vec::with_capacity(CODE_BATCH)));
        let (browser2, target, pkce2, codes2) =
            (browser.clone(), t.clone(), pkce.clone(), codes.clone());
        let minted = load::for_items(ctx.concurrency, vec![(); CODE_BATCH], move |_, ()| {
            let (browser, target, pkce, codes) = (
                browser2.clone(),
                target.clone(),
                pkce2.clone(),
                codes2.clone(),
            );
            async move {
                let code = flows::mint_code(&browser, &target, &pkce).await?;
                codes.lock().expect("codes").push(code);
                Ok(())
            }
        })
        .await;
        let failed_minting = minted.failed;
        minting.add(Sample {
            elapsed: Duration::ZERO,
            latencies: Vec::new(),
            ..minted
        });
        let codes = std::mem::take(&mut *codes.lock().expect("codes"));
        if codes.is_empty() {
            break;
        }
        let (http, target, pkce2) = (ctx.http.clone(), t.clone(), pkce.clone());
        let sample = load::for_items(ctx.concurrency, codes, move |_, code: String| {
            let (http, target, pkce) = (http.clone(), target.clone(), pkce2.clone());
            async move {
                flows::exchange(&http, &target, &code, &pkce.verifier)
                    .await
                    .map(|_| ())
            }
        })
        .await;
        if !first {
            total.add(sample);
        } else if sample.failed > 0 {
            total.add(Sample {
                ok: 0,
                elapsed: Duration::ZERO,
                latencies: Vec::new(),
                ..sample
            });
        }
        first = false;
        if failed_minting as usize >= CODE_BATCH {
            break;
        }
    }
    total.failed += minting.failed;
    for e in minting.errors {
        if total.errors.len() < 5 {
            total.errors.push(format!("minting a code: {e}"));
        }
    }
    total
}

/// Each target alone, pinned to core 0, the load generator (this process) on core 1; and the
/// argon2id bound on core 0 alone.
async fn per_core(
    plan: &Plan,
    procs: &Procs,
    ctx: &Ctx,
    specs: &[targets::Spec],
    pools: &BTreeMap<Kind, Arc<Pool>>,
    done: &BTreeMap<Kind, Arc<AtomicUsize>>,
    results: &mut Results,
) -> Result<(), String> {
    eprintln!("== per core: each server alone on core 0, the load generator on core 1");
    let argon2 = bounds::argon2_rate_on_core(0, plan.bound_seconds * 2.0).await?;
    eprintln!("argon2id on core 0 alone: {}/s", fmt_rate(argon2));
    results.per_core_argon2 = Some(argon2);
    procs::pin_self("1").await?;
    let outcome = async {
        for spec in specs {
            let target = Arc::new(targets::start(procs, &ctx.http, spec, Some(0)).await?);
            let op = SignInOp {
                ctx: ctx.clone(),
                target: target.clone(),
                pool: pools[&spec.kind].clone(),
                done: done[&spec.kind].clone(),
            };
            let (sample, _) = op
                .measure(
                    Duration::from_secs_f64(plan.warmup_seconds),
                    Duration::from_secs_f64(plan.signin_seconds),
                )
                .await;
            progress(&target, Figure::SignIn, &sample);
            results.count_failures("per-core sign-ins", spec.kind, &sample);
            results.per_core.insert(spec.kind, Round::from(&sample));
            procs.stop(target.pid).await;
        }
        Ok::<(), String>(())
    }
    .await;
    let all = format!("0-{}", bounds::cores() - 1);
    procs::pin_self(&all).await?;
    outcome
}

/// Cores, CPU model and memory, from /proc.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown CPU".to_string(), |(_, m)| m.trim().to_string());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or("?".to_string(), |kb| format!("{:.1}", kb / 1024.0 / 1024.0));
    format!(
        "Machine: {} cores, {model}, {ram_gib} GiB RAM.",
        bounds::cores()
    )
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}
