//! `sesame-bench`: Sesame (release build, on SQLite and on PostgreSQL) side by side with panva's
//! `oidc-provider` (`bench/peer/`), in one run on one machine. `bash bench/run` builds everything
//! and calls `sesame-bench run`; BENCHMARKS.md says what each figure means.
//!
//! It starts the three servers, then alternates rounds between them (every figure of one
//! target, then the next; the order turns each round) and prints the medians, p50/p99 of the
//! sign-ins, the ratios Sesame/peer next to the targets, memory (idle, after N sessions,
//! peak under the sign-in load) and the bounds of the machine (argon2id verifications with
//! Sesame's own hasher, RSA-2048 and P-256 signatures with Sesame's own signer). A per-core mode
//! then runs each server alone pinned to core 0 with the load generator on core 1.
//!
//! Every request's answer is checked (a sign-in counts only when its code exchange returned an ID
//! token with the nonce sent); failures are counted and printed, and make the exit status 1.
//! Speed never does. Every process it starts is stopped on the way out, also on Ctrl-C.

mod bounds;
mod flows;
mod jar;
mod load;
mod procs;
mod report;
mod run;
mod sms;
mod targets;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "sesame-bench",
    about = "Sesame side by side with oidc-provider: run `bash bench/run` (see BENCHMARKS.md)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Runs the whole benchmark and prints the table.
    Run(RunArgs),
    /// Prints argon2id verifications per second with Sesame's hasher (`run` starts it pinned
    /// to one core with taskset for the per-core bound).
    Argon2 {
        /// Hashes at once (the hasher's slots).
        #[arg(long, default_value_t = 1)]
        slots: usize,
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
}

/// What `run` is given. The durations are per figure and per round.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A few seconds per figure and one round: checks that everything works (a few minutes).
    #[arg(long)]
    pub quick: bool,
    /// The `sesame` binary (a release build).
    #[arg(long)]
    pub sesame: PathBuf,
    /// The peer's directory (`bench/peer`, after `npm ci`).
    #[arg(long)]
    pub peer_dir: PathBuf,
    #[arg(long, default_value = "node")]
    pub node: PathBuf,
    /// A PostgreSQL database for Sesame (created empty by `bench/run`, dropped after); without
    /// it the PostgreSQL column is not run.
    #[arg(long)]
    pub pg_url: Option<String>,
    /// Rounds per target (default 5; 1 with --quick).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Seconds measured per figure and round (default 8; 2 with --quick).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Seconds of sign-ins measured per round (default 20; 3 with --quick).
    #[arg(long)]
    pub signin_seconds: Option<f64>,
    /// Full sign-ins each target has done before its memory is read "after N sessions"
    /// (default 10000; 300 with --quick).
    #[arg(long)]
    pub sessions: Option<usize>,
    /// Users provisioned on each side (each in-flight sign-in takes its own).
    #[arg(long)]
    pub users: Option<usize>,
    /// Requests (or sign-ins) in flight.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Skips the per-core mode (server on core 0, load generator on core 1).
    #[arg(long)]
    pub no_per_core: bool,
    /// Keeps the work directory (logs, SQLite database, provisioning file).
    #[arg(long)]
    pub keep: bool,
}

/// The durations and counts of a run, from the arguments and the mode.
#[derive(Debug, Clone)]
pub struct Plan {
    pub args: RunArgs,
    pub rounds: usize,
    pub seconds: f64,
    pub signin_seconds: f64,
    /// Untimed time before each measurement: connections, caches, JIT (the peer).
    pub warmup_seconds: f64,
    pub sessions: usize,
    pub users: usize,
    pub bound_seconds: f64,
}

impl Plan {
    fn new(args: RunArgs) -> Self {
        let quick = args.quick;
        let pick = |given: Option<f64>, full: f64, short: f64| {
            given.unwrap_or(if quick { short } else { full })
        };
        Self {
            rounds: args.rounds.unwrap_or(if quick { 1 } else { 5 }).max(1),
            seconds: pick(args.seconds, 8.0, 2.0),
            signin_seconds: pick(args.signin_seconds, 20.0, 3.0),
            warmup_seconds: if quick { 0.5 } else { 2.0 },
            sessions: args.sessions.unwrap_or(if quick { 300 } else { 10_000 }),
            users: args
                .users
                .unwrap_or(if quick { 64 } else { 1_000 })
                .max(args.concurrency * 2),
            bound_seconds: if quick { 1.0 } else { 3.0 },
            args,
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = match cli.command {
        Cmd::Argon2 { slots, seconds } => {
            let rate = runtime.block_on(bounds::argon2_rate(slots, seconds));
            println!("argon2id verifications/s: {rate:.2}");
            0
        }
        Cmd::Run(args) => runtime.block_on(run::main(Plan::new(args))),
    };
    // Background tasks (the SMS receiver's thread, idle connections) are not waited for.
    runtime.shutdown_background();
    std::process::exit(code);
}
