//! The `sesame` command line: its commands and what each does, over the library (the binary
//! only calls [`main`]). One module per group of commands.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Settings;
use crate::domain::Username;
use crate::keys::{self, Alg, Kek};
use crate::provisioning::Plan;
use crate::startup::StartError;
use crate::store::keys::SigningKeyRow;
use crate::store::organizations::Organization;
use crate::store::users::User;
use crate::store::{Db, DbConn, run_migrations};
use crate::{Application, demo, telemetry};
use clap::{CommandFactory, Parser, Subcommand};

mod admin;
mod events;
mod import;
mod ops;
mod signing_keys;

use admin::AdminCommand;
use events::EventsCommand;
use signing_keys::KeysCommand;

/// Sesame: an OpenID Connect provider with SMS one-time passwords as a second factor.
#[derive(Debug, Parser)]
#[command(name = "sesame", version, about)]
struct Cli {
    /// A TOML settings file; environment variables (SESAME_*, DATABASE_URL) override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (migrations run first).
    Serve {
        /// Create the demo organization, applications and user if missing, and print them.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create or update organizations, applications and users from a provisioning file (TOML).
    Import {
        /// The provisioning file.
        file: PathBuf,
        /// Print what the import would create, update (and with --prune delete), then undo
        /// it: nothing is kept.
        #[arg(long)]
        dry_run: bool,
        /// Also delete the applications and users of the file's organizations that the file no
        /// longer lists (only the kinds an organization's entry lists), after a summary; never
        /// organizations, webhooks, roles, the console's application, or users and applications
        /// holding an administrative role.
        #[arg(long)]
        prune: bool,
        /// Confirm --prune's deletions without being asked (required when not on a terminal).
        #[arg(long, requires = "prune")]
        yes: bool,
    },
    /// Manage an organization's signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Administrators (users of the `admin` organization) and the roles of administrators and
    /// service applications.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Inspect the event outbox.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Generate a new set of backup codes for a user (replacing the old set) and print it once.
    BackupCodes {
        /// The organization's slug.
        #[arg(long)]
        org: String,
        /// The user's username.
        #[arg(long)]
        user: String,
    },
    /// Inspect the effective configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Copy the SQLite database to a new file while the server runs (an online, consistent copy),
    /// then check the copy. PostgreSQL is backed up with pg_dump instead. Keep the key-encryption
    /// key with the backup: without it a restored database cannot sign tokens.
    Backup {
        /// The file to write; it must not exist yet (it is created readable by its owner only).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Ask the server on this machine for its health endpoint; exit 0 when it answers 200 (for
    /// container health checks, where no curl is at hand).
    Healthcheck {
        /// The URL to ask; by default /healthz at the listen address (loopback when it listens
        /// on every address), over HTTPS when TLS is configured.
        #[arg(long)]
        url: Option<String>,
    },
    /// Print the shell completion script for SHELL on stdout.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (sesame.1 and one per subcommand, e.g. sesame-keys-rotate.1) into DIR.
    Man {
        /// The folder to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective settings as TOML, secrets redacted.
    Show,
}

/// A failed command: the message for stderr and the exit code.
struct Failure(String, u8);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Self(e.to_string(), 1)
    }
}

/// Runs the command line: parses it, loads the settings, runs the command; the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Generated from the command line's definition alone: no settings needed.
    match &cli.command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "sesame", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        Command::Man { dir } => {
            return match write_man_pages(dir) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!(
                        "error: cannot write the man pages to {}: {e}",
                        dir.display()
                    );
                    ExitCode::from(1)
                }
            };
        }
        _ => {}
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Traces are exported by the server only; the other commands log as before.
    let traces = match cli.command {
        Command::Serve { .. } => settings.traces.as_ref(),
        _ => None,
    };
    let telemetry = match telemetry::init_with_traces(&settings.log, traces) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = run(cli.command, settings);
    // After the server's graceful stop (SIGTERM, SIGINT): the last spans are sent.
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message, code)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(command: Command, settings: Settings) -> Result<(), Failure> {
    match command {
        Command::Serve { demo } => ops::serve(settings, demo),
        Command::Migrate => {
            let mut conn =
                crate::store::ConnectionManager::for_settings(&settings.database).establish()?;
            let applied = run_migrations(&mut conn)?;
            if applied.is_empty() {
                println!("database is up to date");
            }
            for m in applied {
                println!("applied {m}");
            }
            Ok(())
        }
        Command::Import {
            file,
            dry_run,
            prune,
            yes,
        } => import::import(&settings, &file, dry_run, prune, yes),
        Command::Keys { command } => signing_keys::keys_command(command, settings),
        Command::Admin { command } => admin::admin_command(command, &settings),
        Command::Events { command } => events::events_command(command, &settings),
        Command::BackupCodes { org, user } => {
            let kek = kek(&settings)?;
            let (mut conn, org) = org_conn(&settings, &org)?;
            keys::verify_kek(&mut conn, &kek).map_err(|e| Failure(e.to_string(), 2))?;
            let username = Username::parse(&user).map_err(|e| Failure(e, 1))?;
            let user = User::find_by_username(&mut conn, org.id, &username)?
                .ok_or_else(|| Failure(format!("no user '{username}' in '{}'", org.slug), 1))?;
            let origin = crate::events::OwnedOrigin::new(&settings, org);
            let org = &origin.org;
            let codes = crate::authn::backup::regenerate(
                &mut conn,
                &kek,
                &org.settings.backup_codes,
                origin.origin(),
                &user.id,
                Some("an administrator (CLI)"),
            )
            .map_err(|e| Failure(e.to_string(), 1))?;
            println!(
                "New backup codes for {}/{} (shown once; the previous set no longer works):",
                org.slug, user.username
            );
            for code in &codes {
                println!("  {}", code.expose());
            }
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Show,
        } => {
            print!("{}", settings.to_redacted_toml());
            Ok(())
        }
        Command::Backup { to } => ops::backup(&settings, &to),
        Command::Healthcheck { url } => ops::healthcheck(&settings, url),
        Command::Completions { .. } | Command::Man { .. } => unreachable!("handled in main"),
    }
}

fn write_man_pages(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)
}

fn org_conn(settings: &Settings, slug: &str) -> Result<(DbConn, Organization), Failure> {
    let mut conn = Db::connect_once(&settings.database)?;
    let org = Organization::find_by_slug(&mut conn, slug)?
        .ok_or_else(|| Failure(format!("no organization with slug '{slug}'"), 1))?;
    Ok((conn, org))
}

fn kek(settings: &Settings) -> Result<Kek, Failure> {
    let (kek, warning) =
        Kek::resolve(&settings.key_encryption_key, false).map_err(|e| Failure(e.to_string(), 2))?;
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    Ok(kek)
}
