//! `conformance`: Sesame's regression harness modelled on the OpenID Foundation's Basic OP and
//! Config OP test plans (a guard against regressions, not a certification), plus the
//! independent client-library probes. See `conformance/README.md`.
//!
//! One run boots Sesame over HTTPS in this process and runs every module twice — against a
//! password-only organization and against one whose clients sign in with password + SMS OTP —
//! then the probes, then the same modules against the calibration provider (panva's
//! oidc-provider) to show the harness judges correctly. It writes one JSON file per module and
//! run, and a summary table, under `--out`; it exits non-zero on any failure, and on any warning
//! that `conformance/RESULTS.md` does not explain.

mod basic;
mod browser;
mod ctx;
mod discovery;
mod jwt;
mod probes;
mod report;
mod target;

use std::path::PathBuf;

use clap::Parser;

use crate::ctx::Ctx;
use crate::report::{ModuleLog, Outcome};
use crate::target::{Calibration, Sesame, Target};

#[derive(Debug, Parser)]
#[command(about = "Sesame's conformance harness (Basic OP + Config OP plans, probes, calibration)")]
struct Cli {
    /// Where results go.
    #[arg(long, default_value = "target/conformance")]
    out: PathBuf,
    /// Skip the calibration provider (needs `npm ci` in conformance/calibration).
    #[arg(long)]
    no_calibration: bool,
    /// Skip the Node and Python probes (the openidconnect probe always runs).
    #[arg(long)]
    no_external_probes: bool,
    /// Run only modules whose name contains this.
    #[arg(long)]
    only: Option<String>,
}

/// The plans' modules, by the suite's names.
pub const CONFIG_PLAN: &[&str] = &["oidcc-discovery-endpoint-verification"];
pub const BASIC_PLAN: &[&str] = basic::MODULES;

async fn run_plans(t: Target, only: Option<&str>) -> Vec<ModuleLog> {
    let mut logs = Vec::new();
    let ctx = match Ctx::new(t.clone()).await {
        Ok(c) => c,
        Err(e) => {
            let mut log = ModuleLog::new("setup", &t.run);
            log.interrupt(e);
            return vec![log.finish()];
        }
    };
    for name in CONFIG_PLAN.iter().chain(BASIC_PLAN) {
        if only.is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let mut log = ModuleLog::new(name, &t.run);
        if *name == "oidcc-discovery-endpoint-verification" {
            discovery::verify(&ctx, &mut log).await;
        } else {
            basic::run(name, &ctx, &mut log).await;
        }
        let log = log.finish();
        println!(
            "{:<72} {:?}",
            format!("{} [{}]", log.module, log.run),
            log.outcome
        );
        for p in log.problems() {
            println!("    {p}");
        }
        logs.push(log);
    }
    logs
}

/// The warnings RESULTS.md explains: a failed warning-level check (in any module that did not
/// fail, skipped ones included) is explained when a line of RESULTS.md's `## Warnings` section
/// names both its module and its check in backquotes.
fn unexplained_warnings(logs: &[ModuleLog]) -> Vec<String> {
    let results = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("RESULTS.md"),
    )
    .unwrap_or_default();
    let section: Vec<&str> = results
        .lines()
        .skip_while(|l| l.trim() != "## Warnings")
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .collect();
    let mut out = Vec::new();
    for l in logs.iter().filter(|l| !l.outcome.counts_as_failure()) {
        for c in l
            .checks
            .iter()
            .filter(|c| !c.ok && c.severity == report::Severity::Warning)
        {
            let explained = section.iter().any(|line| {
                line.contains(&format!("`{}`", l.module)) && line.contains(&format!("`{}`", c.name))
            });
            if !explained {
                out.push(format!("{} [{}]: {}", l.module, l.run, c.name));
            }
        }
    }
    out
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let mut logs: Vec<ModuleLog> = Vec::new();
    let sesame = match Sesame::start().await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("Sesame did not start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    for (run, org) in [
        ("sesame-password", "conformance"),
        ("sesame-mfa", "conformance-mfa"),
    ] {
        let target = sesame
            .target(run, org)
            .expect("provision.toml has the run's clients");
        logs.extend(run_plans(target, cli.only.as_deref()).await);
    }
    if cli.only.is_none() {
        logs.extend(probes::run(&sesame, !cli.no_external_probes).await);
    }
    if !cli.no_calibration {
        match Calibration::start().await {
            Ok(cal) => {
                logs.extend(run_plans(cal.target.clone(), cli.only.as_deref()).await);
                cal.stop().await;
            }
            Err(e) => {
                let mut log = ModuleLog::new("setup", "calibration");
                log.interrupt(e);
                logs.push(log.finish());
            }
        }
    }

    if let Err(e) = write(&cli.out, &logs) {
        eprintln!("cannot write results under {}: {e}", cli.out.display());
        return std::process::ExitCode::FAILURE;
    }
    let table = report::summary(&logs);
    println!("\n{table}");
    let failed: Vec<&ModuleLog> = logs
        .iter()
        .filter(|l| l.outcome.counts_as_failure())
        .collect();
    let unexplained = unexplained_warnings(&logs);
    for l in &failed {
        eprintln!("FAILED: {} [{}]", l.module, l.run);
    }
    for w in &unexplained {
        eprintln!("WARNING not explained in conformance/RESULTS.md: {w}");
    }
    println!(
        "{} module runs: {} passed, {} warnings, {} skipped, {} failed; results in {}",
        logs.len(),
        logs.iter().filter(|l| l.outcome == Outcome::Passed).count(),
        logs.iter()
            .filter(|l| l.outcome == Outcome::Warning)
            .count(),
        logs.iter()
            .filter(|l| l.outcome == Outcome::Skipped)
            .count(),
        failed.len(),
        cli.out.display()
    );
    if failed.is_empty() && unexplained.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}

fn write(out: &std::path::Path, logs: &[ModuleLog]) -> std::io::Result<()> {
    let dir = out.join("results");
    std::fs::create_dir_all(&dir)?;
    for l in logs {
        let path = dir.join(format!("{}--{}.json", l.run, l.module));
        std::fs::write(path, serde_json::to_vec_pretty(l).expect("logs serialize"))?;
    }
    std::fs::write(out.join("summary.md"), report::summary(logs))
}
