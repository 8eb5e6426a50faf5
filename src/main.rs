//! The `sesame` command: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use sesame::config::Settings;
use sesame::domain::Username;
use sesame::keys::{self, Alg, Kek};
use sesame::provisioning::Plan;
use sesame::startup::StartError;
use sesame::store::keys::SigningKeyRow;
use sesame::store::organizations::Organization;
use sesame::store::users::User;
use sesame::store::{Db, DbConn, run_migrations};
use sesame::{Application, demo, telemetry};

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
        /// longer lists, after a summary (never organizations, webhooks, roles, the console's
        /// application, or users holding an administrative role).
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
enum AdminCommand {
    /// Create an administrator: a user of the `admin` organization (created if missing) with a
    /// generated password, printed once, and a role: the system role (every organization) or,
    /// with --org, a role over one organization.
    Create {
        #[arg(long)]
        username: String,
        /// The administrator's mobile number (E.164), for their SMS one-time passwords.
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// The organization the role is over; the system role when absent.
        #[arg(long, requires = "role")]
        org: Option<String>,
        /// viewer, support, admin or owner (with --org).
        #[arg(long, requires = "org")]
        role: Option<String>,
    },
    /// Give a user or a service application of the `admin` organization a role over one
    /// organization (--org), or the system role over all (--role system); replaces the role it
    /// had there.
    Grant {
        /// A user of the `admin` organization.
        #[arg(long, required_unless_present = "client", conflicts_with = "client")]
        username: Option<String>,
        /// A service application (client id) of the `admin` organization.
        #[arg(long)]
        client: Option<String>,
        #[arg(long)]
        org: Option<String>,
        /// viewer, support, admin, owner, or system (without --org).
        #[arg(long)]
        role: String,
    },
    /// Take back the role a user or a service application holds over one organization (--org)
    /// or over all (without it).
    Revoke {
        #[arg(long, required_unless_present = "client", conflicts_with = "client")]
        username: Option<String>,
        #[arg(long)]
        client: Option<String>,
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// List the organization's newest events, message bodies (which may hold codes) redacted.
    List {
        /// The organization's slug.
        #[arg(long)]
        org: String,
        /// How many events, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Deliver an event again to every target (unless it has expired); the worker of a running
    /// node picks it up within a second.
    Redeliver {
        /// The organization's slug.
        #[arg(long)]
        org: String,
        /// The event's id (`jti`), as `events list` shows it.
        #[arg(long)]
        jti: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List the organization's signing keys (active, published and retired).
    List {
        /// The organization's slug.
        #[arg(long)]
        org: String,
    },
    /// Make a new key active; the previous one stays published (so issued tokens still verify)
    /// until retired.
    Rotate {
        /// The organization's slug.
        #[arg(long)]
        org: String,
        /// Rotate only this algorithm (RS256, ES256, EdDSA); all of them by default.
        #[arg(long)]
        alg: Option<String>,
        /// Sign with the new key at once (for a compromised key). By default the new key is
        /// published first and starts signing once every node and relying party has refreshed
        /// its copy of the key set (key cache time + 60 seconds of JWKS caching).
        #[arg(long)]
        now: bool,
    },
    /// Remove a published, no longer active key from the key set.
    Retire {
        /// The organization's slug.
        #[arg(long)]
        org: String,
        /// The key's id (its RFC 7638 thumbprint, as `keys list` shows). Thumbprints are
        /// base64url and may start with `-`, so the value is taken as is.
        #[arg(long, allow_hyphen_values = true)]
        kid: String,
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

fn main() -> ExitCode {
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
        Command::Serve { demo } => serve(settings, demo),
        Command::Migrate => {
            let mut conn =
                sesame::store::ConnectionManager::for_settings(&settings.database).establish()?;
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
        } => {
            let text = std::fs::read_to_string(&file)
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
            let recorder = sesame::admin::audit::Recorder::new(
                &settings,
                sesame::admin::Actor::operator(sesame::admin::Via::Import),
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
            println!(
                "{unchanged} {} entr{}",
                report.unchanged,
                if report.unchanged == 1 { "y" } else { "ies" }
            );
            if dry_run {
                if !report.diff.is_empty() {
                    println!(
                        "\nthe changes, as the audit log would record them (secrets redacted):"
                    );
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
        Command::Keys { command } => keys_command(command, settings),
        Command::Admin { command } => admin_command(command, &settings),
        Command::Events {
            command: EventsCommand::List { org, limit },
        } => {
            let kek = kek(&settings)?;
            let (mut conn, org) = org_conn(&settings, &org)?;
            keys::verify_kek(&mut conn, &kek).map_err(|e| Failure(e.to_string(), 2))?;
            for event in sesame::store::events::OutboxEvent::list(&mut conn, org.id, limit)? {
                let payload = sesame::events::open_payload(&kek, &event)
                    .map(|p| sesame::events::redacted(&p).to_string())
                    .unwrap_or_else(|e| format!("(unreadable: {e})"));
                let delivered = event
                    .delivered_at
                    .map_or("pending".to_string(), sesame::store::format_utc);
                println!(
                    "{} {} {} {delivered} {payload}",
                    sesame::store::format_utc(event.created_at),
                    event.event_type,
                    event.jti
                );
                for d in sesame::store::deliveries::Delivery::of_event(&mut conn, &event.jti)? {
                    println!(
                        "    delivery {} to {}: {} after {} attempt(s){}",
                        d.id,
                        d.target,
                        d.state,
                        d.attempts,
                        d.last_error
                            .map(|e| format!(", last error: {e}"))
                            .unwrap_or_default()
                    );
                }
            }
            // Each target at a glance: a sink or a subscriber that is behind shows here.
            let targets = sesame::store::deliveries::by_target(&mut conn, org.id)?;
            if !targets.is_empty() {
                println!("by target (the outbox keeps delivered events a week):");
            }
            for target in targets.chunk_by(|a, b| a.target == b.target) {
                let states: Vec<String> = target
                    .iter()
                    .map(|t| match t.state.as_str() {
                        sesame::store::deliveries::PENDING => format!(
                            "{} pending (the oldest since {})",
                            t.count,
                            sesame::store::format_utc(t.oldest)
                        ),
                        state => format!("{} {state}", t.count),
                    })
                    .collect();
                println!("    {}: {}", target[0].target, states.join(", "));
            }
            Ok(())
        }
        Command::Events {
            command: EventsCommand::Redeliver { org, jti },
        } => {
            let (mut conn, org) = org_conn(&settings, &org)?;
            let origin = sesame::events::OwnedOrigin::new(&settings, org);
            let actor = sesame::admin::Actor::operator(sesame::admin::Via::Cli);
            let done = sesame::admin::events::redeliver(
                &mut conn,
                origin.origin(),
                &actor,
                &jti,
                settings.delivery_max_age_seconds,
            )
            .map_err(|e| match e {
                sesame::admin::AdminError::NotFound(_) => Failure(
                    format!("no deliveries of event {jti} in '{}'", origin.org.slug),
                    1,
                ),
                other => Failure(other.to_string(), 1),
            })?;
            for (d, scheduled) in done {
                if scheduled {
                    println!("delivery {} to {}: scheduled again", d.id, d.target);
                } else {
                    println!(
                        "delivery {} to {}: not redelivered, its code is no longer live (expired, used or replaced: a dead code is never sent)",
                        d.id, d.target
                    );
                }
            }
            Ok(())
        }
        Command::BackupCodes { org, user } => {
            let kek = kek(&settings)?;
            let (mut conn, org) = org_conn(&settings, &org)?;
            keys::verify_kek(&mut conn, &kek).map_err(|e| Failure(e.to_string(), 2))?;
            let username = Username::parse(&user).map_err(|e| Failure(e, 1))?;
            let user = User::find_by_username(&mut conn, org.id, &username)?
                .ok_or_else(|| Failure(format!("no user '{username}' in '{}'", org.slug), 1))?;
            let origin = sesame::events::OwnedOrigin::new(&settings, org);
            let org = &origin.org;
            let codes = sesame::authn::backup::regenerate(
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
        Command::Backup { to } => backup(&settings, &to),
        Command::Healthcheck { url } => healthcheck(&settings, url),
        Command::Completions { .. } | Command::Man { .. } => unreachable!("handled in main"),
    }
}

fn write_man_pages(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)
}

fn backup(settings: &Settings, to: &std::path::Path) -> Result<(), Failure> {
    use sesame::backup::{self, KEEP_THE_KEY, KeyCheck};
    // The key is only checked against the copy (never created, never printed).
    let kek = Kek::resolve(&settings.key_encryption_key, false)
        .ok()
        .map(|(k, _)| k);
    let report = backup::sqlite(&settings.database.url, to, kek.as_ref())?;
    println!(
        "backed up {} to {}: {} bytes, schema {}, integrity ok, {} organization(s), {} user(s)",
        report.from.display(),
        report.to.display(),
        report.bytes,
        report.schema_version,
        report.organizations,
        report.users
    );
    let source = backup::describe_key_source(&settings.key_encryption_key);
    match report.key {
        KeyCheck::Opens => println!("the key-encryption key ({source}) opens this backup"),
        KeyCheck::NoCheckValue => println!(
            "the backup holds no key check yet (no server has started on it): the key it needs is \
             the one the first server start will use"
        ),
        KeyCheck::DoesNotOpen => eprintln!(
            "warning: the key-encryption key configured here ({source}) does NOT open this backup: \
             find the key the server runs with and keep that one with the backup"
        ),
        KeyCheck::NoKey => eprintln!(
            "warning: no key-encryption key could be loaded here ({source}): find the key the \
             server runs with and keep that one with the backup"
        ),
    }
    println!("{KEEP_THE_KEY}");
    Ok(())
}

fn healthcheck(settings: &Settings, url: Option<String>) -> Result<(), Failure> {
    let tls = settings.tls.is_some();
    let url = url.unwrap_or_else(|| {
        let ip = match settings.listen.ip() {
            std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
            }
            std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
                std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
            }
            ip => ip,
        };
        let scheme = if tls { "https" } else { "http" };
        format!(
            "{scheme}://{}/healthz",
            std::net::SocketAddr::new(ip, settings.listen.port())
        )
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let status = runtime.block_on(async {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            // Our own listener, asked by address: its certificate names the public host, and this
            // checks liveness, not identity.
            .danger_accept_invalid_certs(tls)
            .build()?
            .get(&url)
            .send()
            .await
            .map(|r| r.status())
    });
    match status {
        Ok(s) if s.is_success() => {
            println!("{url}: {s}");
            Ok(())
        }
        Ok(s) => Err(Failure(format!("{url}: {s}"), 1)),
        Err(e) => Err(Failure(format!("{url}: {e}"), 1)),
    }
}

fn serve(settings: Settings, with_demo: bool) -> Result<(), Failure> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let base_url = settings.base_url.to_string();
        let scheme = if settings.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let listen = settings.listen;
        // Seed before the server (and its connection pool) starts, so a refusal exits cleanly.
        // The demo user's backup codes are keyed with the key-encryption key, created here on a
        // first run exactly as the server would.
        let created = if with_demo {
            let (kek, _) = Kek::resolve(&settings.key_encryption_key, true)
                .map_err(|e| Failure(e.to_string(), 2))?;
            let mut conn = Db::connect_once(&settings.database)?;
            keys::verify_kek(&mut conn, &kek).map_err(|e| Failure(e.to_string(), 2))?;
            let recorder = sesame::admin::audit::Recorder::new(
                &settings,
                sesame::admin::Actor::operator(sesame::admin::Via::Import),
            );
            Some(demo::seed(&mut conn, &kek, &recorder)?)
        } else {
            None
        };
        let app = Application::build(settings).await.map_err(|e| {
            // A setting that turned out bad while starting is a configuration error (exit 2).
            let code = if matches!(e, StartError::Config(_) | StartError::Tls(_)) {
                2
            } else {
                1
            };
            Failure(e.to_string(), code)
        })?;
        if let Some(created) = created {
            println!("{}", demo::banner(&base_url, created.as_ref()));
        }
        tracing::info!(
            "Sesame listening on {scheme}://{}:{} (public base URL {base_url})",
            listen.ip(),
            app.port()
        );
        app.run_until_stopped().await?;
        Ok(())
    })
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

fn print_keys(conn: &mut DbConn, org: &Organization) -> Result<(), Failure> {
    println!("{:<44} {:<6} {:<10} created", "kid", "alg", "state");
    for k in SigningKeyRow::list_all(conn, org.id)? {
        println!(
            "{:<44} {:<6} {:<10} {}",
            k.kid, k.alg, k.state, k.created_at
        );
    }
    Ok(())
}

fn admin_command(command: AdminCommand, settings: &Settings) -> Result<(), Failure> {
    use sesame::admin::{self, Actor, Principal, Role, Via};
    let mut conn = Db::connect_once(&settings.database)?;
    let actor = Actor::operator(Via::Cli);
    let refused = |e: admin::AdminError| Failure(e.to_string(), 1);
    let (admin_org, created) =
        admin::roles::ensure_admin_organization(&mut conn, settings.base_url.as_str())?;
    if created {
        println!(
            "created the administration organization '{}' (issuer {})",
            admin_org.slug,
            settings.base_url.issuer(&admin_org.slug)
        );
    }
    let admin_origin = sesame::events::OwnedOrigin::new(settings, admin_org);
    // The organization a role is over (its origin, for the audit log), or all of them.
    let target = |conn: &mut DbConn, org: Option<&str>| -> Result<_, Failure> {
        Ok(match org {
            Some(slug) => {
                let org = Organization::find_by_slug(conn, slug)?
                    .ok_or_else(|| Failure(format!("no organization with slug '{slug}'"), 1))?;
                Some(sesame::events::OwnedOrigin::new(settings, org))
            }
            None => None,
        })
    };
    // Whose log a role change goes to, and what it is over: the organization, or (the system
    // role) every organization, logged in the administration's.
    fn scope<'a>(
        target: &'a Option<sesame::events::OwnedOrigin>,
        admin: &'a sesame::events::OwnedOrigin,
    ) -> (sesame::events::Origin<'a>, Option<i64>) {
        match target {
            Some(t) => (t.origin(), Some(t.org.id)),
            None => (admin.origin(), None),
        }
    }
    let principal = |conn: &mut DbConn, username: Option<String>, client: Option<String>| {
        let named = match (username, client) {
            (Some(name), _) => admin::roles::Named::User(name),
            (None, Some(client_id)) => admin::roles::Named::Client(client_id),
            (None, None) => return Err(Failure("name --username or --client".into(), 2)),
        };
        admin::roles::principal(conn, admin_origin.org.id, &named).map_err(refused)
    };
    match command {
        AdminCommand::Create {
            username,
            phone,
            email,
            org,
            role,
        } => {
            let role = match &role {
                Some(r) => Role::parse(r).map_err(|e| Failure(e, 2))?,
                None => Role::System,
            };
            let target = target(&mut conn, org.as_deref())?;
            admin::roles::check_scope(target.as_ref().map(|t| t.org.id), role).map_err(refused)?;
            let has_phone = phone.is_some();
            let password = sesame::secret::random_token(18);
            let hash = sesame::password::hash(&password);
            let new = admin::users::NewUser {
                username,
                email_verified: email.is_some(),
                email,
                phone_number_verified: phone.is_some(),
                phone_number: phone,
                password: None,
                disabled: false,
                profile: Default::default(),
            };
            let user =
                admin::users::create(&mut conn, admin_origin.origin(), &actor, new, Some(hash))
                    .map_err(refused)?;
            let principal = Principal::user(&user.summary.id);
            let (origin, over) = scope(&target, &admin_origin);
            admin::roles::grant(&mut conn, origin, &actor, &principal, over, role)
                .map_err(refused)?;
            println!(
                "administrator '{}' created in '{}' with the role {} over {}",
                user.summary.username,
                admin::ADMIN_ORGANIZATION,
                role.as_str(),
                org.as_deref().unwrap_or("every organization")
            );
            println!("password (shown once): {}", password.expose());
            if !has_phone {
                println!(
                    "note: the management API takes administrators' tokens only from sign-ins with a second factor; give them one (--phone, or an authenticator app in their account)"
                );
            }
            Ok(())
        }
        AdminCommand::Grant {
            username,
            client,
            org,
            role,
        } => {
            let role = Role::parse(&role).map_err(|e| Failure(e, 2))?;
            let (principal, label) = principal(&mut conn, username, client)?;
            let target = target(&mut conn, org.as_deref())?;
            let (origin, over) = scope(&target, &admin_origin);
            admin::roles::grant(&mut conn, origin, &actor, &principal, over, role)
                .map_err(refused)?;
            println!(
                "{label} has the role {} over {}",
                role.as_str(),
                org.as_deref().unwrap_or("every organization")
            );
            Ok(())
        }
        AdminCommand::Revoke {
            username,
            client,
            org,
        } => {
            let (principal, label) = principal(&mut conn, username, client)?;
            let target = target(&mut conn, org.as_deref())?;
            let (origin, over) = scope(&target, &admin_origin);
            let over_what = org.as_deref().unwrap_or("every organization");
            if admin::roles::revoke(&mut conn, origin, &actor, &principal, over).map_err(refused)? {
                println!("{label} no longer has a role over {over_what}");
            } else {
                println!("{label} had no role over {over_what}");
            }
            Ok(())
        }
    }
}

/// Shows what `--prune` is about to delete and has the operator confirm it: `--yes`, or `yes`
/// typed on the terminal. Anything else changes nothing.
fn confirm_prune(doomed: &[sesame::provisioning::Doomed], yes: bool) -> Result<(), Failure> {
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
fn keys_command(command: KeysCommand, settings: Settings) -> Result<(), Failure> {
    match command {
        KeysCommand::List { org } => {
            let (mut conn, org) = org_conn(&settings, &org)?;
            print_keys(&mut conn, &org)
        }
        KeysCommand::Rotate { org, alg, now } => {
            let kek = kek(&settings)?;
            let algs = match alg {
                Some(a) => vec![Alg::parse(&a).map_err(|e| Failure(e, 2))?],
                None => Alg::ALL.to_vec(),
            };
            let (mut conn, org) = org_conn(&settings, &org)?;
            keys::verify_kek(&mut conn, &kek).map_err(|e| Failure(e.to_string(), 2))?;
            // Other nodes cache the key set for the key cache time, relying parties for 60 s.
            let delay = if now {
                0
            } else {
                settings.key_cache_ttl.as_secs() as i64 + 60
            };
            let origin = sesame::events::OwnedOrigin::new(&settings, org);
            let actor = sesame::admin::Actor::operator(sesame::admin::Via::Cli);
            let rows = sesame::admin::keys::rotate(
                &mut conn,
                &kek,
                origin.origin(),
                &actor,
                &algs,
                delay,
            )?;
            for row in rows {
                match row.activate_at {
                    None => println!("new active {} key {}", row.alg, row.kid),
                    Some(at) => println!(
                        "new {} key {} is published now and starts signing at {at}",
                        row.alg, row.kid
                    ),
                }
            }
            print_keys(&mut conn, &origin.org)
        }
        KeysCommand::Retire { org, kid } => {
            let (mut conn, org) = org_conn(&settings, &org)?;
            let origin = sesame::events::OwnedOrigin::new(&settings, org);
            let actor = sesame::admin::Actor::operator(sesame::admin::Via::Cli);
            sesame::admin::keys::retire(&mut conn, origin.origin(), &actor, &kid)?;
            println!("retired {kid}");
            print_keys(&mut conn, &origin.org)
        }
    }
}
