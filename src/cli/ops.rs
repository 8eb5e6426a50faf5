//! Running and looking after the server: `serve`, `backup`, `healthcheck`.

use super::*;

pub(super) fn serve(settings: Settings, with_demo: bool) -> Result<(), Failure> {
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
            let recorder = crate::admin::audit::Recorder::new(
                &settings,
                crate::admin::Actor::operator(crate::admin::Via::Import),
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

pub(super) fn backup(settings: &Settings, to: &std::path::Path) -> Result<(), Failure> {
    use crate::backup::{self, KEEP_THE_KEY, KeyCheck};
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

pub(super) fn healthcheck(settings: &Settings, url: Option<String>) -> Result<(), Failure> {
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
