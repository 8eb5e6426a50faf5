//! `sesame import`: a provisioning file applied (or previewed), and `--prune`'s confirmation.

use super::*;

/// Applies (or with `dry_run` previews) the provisioning file `file`; with `prune`, also
/// deletes what its organizations no longer list, once confirmed.
pub(super) fn import(
    settings: &Settings,
    file: &std::path::Path,
    dry_run: bool,
    prune: bool,
    yes: bool,
) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure(format!("cannot read {}: {e}", file.display()), 1))?;
    let plan = Plan::parse(&text, &file.display().to_string())?;
    // Webhook secrets are sealed with the key-encryption key the server uses (created
    // here on a first run, as the server would; a dry run creates and records no key).
    let (kek, _) = Kek::resolve(&settings.key_encryption_key, !dry_run)
        .map_err(|e| Failure(e.to_string(), 2))?;
    let mut conn = Db::connect_once(&settings.database)?;
    if dry_run {
        if keys::kek_opens(&mut conn, &kek)? == Some(false) {
            let mismatch = keys::KekMismatch::Mismatch;
            return Err(Failure(mismatch.to_string(), 2));
        }
    } else {
        keys::verify_kek(&mut conn, &kek).map_err(|e| Failure(e.to_string(), 2))?;
    }
    let recorder = crate::admin::audit::Recorder::new(
        settings,
        crate::admin::Actor::operator(crate::admin::Via::Import),
    );
    let doomed = if prune {
        plan.prune_list(&mut conn)?
    } else {
        Vec::new()
    };
    if !doomed.is_empty() && !dry_run {
        confirm_prune(&doomed, yes)?;
    }
    let report = if dry_run {
        plan.preview(&mut conn, &kek, &recorder, &doomed)?
    } else {
        plan.apply_and_prune(&mut conn, &kek, &recorder, &doomed)?
    };
    // A dry run's lines say what would happen, so no script mistakes them for changes.
    let (created, updated, deleted, unchanged) = if dry_run {
        (
            "would create",
            "would update",
            "would delete",
            "would leave unchanged",
        )
    } else {
        ("created  ", "updated  ", "deleted  ", "unchanged")
    };
    for entry in &report.created {
        println!("{created} {entry}");
    }
    for entry in &report.updated {
        println!("{updated} {entry}");
    }
    for entry in &report.deleted {
        println!("{deleted} {entry}");
    }
    for entry in &report.kept {
        println!("kept      {entry} (it changed since the summary: renamed or given a role)");
    }
    println!(
        "{unchanged} {} entr{}",
        report.unchanged,
        if report.unchanged == 1 { "y" } else { "ies" }
    );
    if dry_run {
        if !report.diff.is_empty() {
            println!("\nthe changes, as the audit log would record them (secrets redacted):");
            for line in &report.diff {
                println!("  {line}");
            }
        }
        for (entry, _) in &report.generated_secrets {
            println!("\na client secret would be generated for {entry}");
        }
        println!("\ndry run: nothing was changed");
        return Ok(());
    }
    for (entry, secret) in &report.generated_secrets {
        println!(
            "\nclient secret of {entry} (shown once, store it now):\n  {}",
            secret.expose()
        );
    }
    Ok(())
}

/// Shows what `--prune` is about to delete and has the operator confirm it: `--yes`, or `yes`
/// typed on the terminal. Anything else changes nothing.
fn confirm_prune(doomed: &[crate::provisioning::Doomed], yes: bool) -> Result<(), Failure> {
    use std::io::{BufRead, IsTerminal, Write};
    println!(
        "--prune deletes {} entr{} the file no longer lists:",
        doomed.len(),
        if doomed.len() == 1 { "y" } else { "ies" }
    );
    for d in doomed {
        println!("  {d}");
    }
    if yes {
        return Ok(());
    }
    let refused = || {
        Failure(
            "nothing was changed: confirm the deletions with --yes (or type yes when asked)".into(),
            1,
        )
    };
    if !std::io::stdin().is_terminal() {
        return Err(refused());
    }
    print!("Apply the file and delete these? Type yes to go on: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Failure(format!("reading the answer: {e}"), 1))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(refused())
    }
}
