//! Builds the running application: database, keys, listener, HTTP server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::config::{ConfigError, Settings};
use crate::http::{self, AppState, SesameRootSpan};
use crate::keys::{Kek, KeyStore};
use crate::store::{Db, OpenError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Database(#[from] OpenError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
}

/// A built application, listening but not yet serving.
pub struct Application {
    port: u16,
    state: web::Data<AppState>,
    server: Server,
    /// The separate metrics listener (`[metrics] listen`), with its port.
    metrics: Option<(u16, Server)>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .field("metrics_port", &self.metrics_port())
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the database (running migrations), loads the key-encryption key and binds the
    /// listener. `SESAME_LISTEN` with port 0 picks a free port: see [`Application::port`].
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let listener = TcpListener::bind(settings.listen).map_err(|source| StartError::Listen {
            addr: settings.listen.to_string(),
            source,
        })?;
        Self::build_on(settings, listener).await
    }

    /// Like [`Application::build`] on a listener bound by the caller (tests bind port 0 first so
    /// they can put the real port in the base URL).
    pub async fn build_on(settings: Settings, listener: TcpListener) -> Result<Self, StartError> {
        Self::build_with_sms(settings, listener, Arc::new(sesame_plugin_console::Console)).await
    }

    /// Like [`Application::build_on`] with the given gateway behind organizations' console
    /// channel (tests pass a [`crate::sms::Capture`] to read the codes sent).
    pub async fn build_with_sms(
        settings: Settings,
        listener: TcpListener,
        sms: Arc<dyn crate::plugin::SmsGateway>,
    ) -> Result<Self, StartError> {
        tracing::warn!(
            "organizations on the console SMS channel have their one-time passwords printed on standard output (development only)"
        );
        tracing::warn!(
            "organizations on the console mailer (the default) have their sign-in links and email codes printed on standard output (development only)"
        );
        let (kek, warning) = Kek::resolve(&settings.key_encryption_key, true)?;
        if let Some(warning) = warning {
            tracing::warn!("{warning}");
        }
        // Everything that can still fail runs before the database pool starts its threads.
        let (pages, mails) = match &settings.templates_dir {
            Some(dir) => http::overrides::load(dir).map_err(|message| {
                StartError::Config(ConfigError {
                    setting: "templates_dir (SESAME_TEMPLATES_DIR)".into(),
                    message,
                })
            })?,
            None => Default::default(),
        };
        let metrics_listener = match settings.metrics.listen {
            Some(addr) if settings.metrics.enabled => Some(TcpListener::bind(addr).map_err(
                |source| StartError::Listen {
                    addr: addr.to_string(),
                    source,
                },
            )?),
            _ => None,
        };
        let tls = settings
            .tls
            .as_ref()
            .map(|tls| {
                let cert = crate::tls::ReloadingCert::load(tls).map_err(StartError::Tls)?;
                let config = cert.server_config().map_err(StartError::Tls)?;
                Ok::<_, StartError>((cert, config))
            })
            .transpose()?;
        let db_settings = settings.database.clone();
        let check_kek = kek.clone();
        let db = tokio::task::spawn_blocking(move || {
            Db::open_checked(&db_settings, |conn| {
                crate::keys::verify_kek(conn, &check_kek).map_err(|e| match e {
                    crate::keys::KekMismatch::Mismatch => StartError::Config(ConfigError {
                        setting: "SESAME_KEY_ENCRYPTION_KEY".into(),
                        message: e.to_string(),
                    }),
                    other => StartError::Database(OpenError::Migrate(other.to_string())),
                })
            })
        })
        .await
        .map_err(|e| OpenError::Migrate(e.to_string()))??;
        tracing::info!(database = %settings.database.url, "database ready");

        let port = listener
            .local_addr()
            .map_err(|source| StartError::Listen {
                addr: settings.listen.to_string(),
                source,
            })?
            .port();
        spawn_purger(db.clone());
        let keys = KeyStore::new(kek, settings.key_cache_ttl);
        let mut core = crate::state::Core::new(settings, db, keys, sms);
        core.mail_templates = mails;
        let core = Arc::new(core);
        crate::events::worker::spawn(core.clone());
        let state = web::Data::new(AppState { core, pages });

        let app_state = state.clone();
        let prefix = state.settings.base_url.path().to_string();
        let server = HttpServer::new(move || {
            let prefix = prefix.clone();
            App::new()
                .app_data(app_state.clone())
                .wrap(from_fn(http::cors::cors))
                .wrap(TracingLogger::<SesameRootSpan>::new())
                .wrap(from_fn(http::request_context))
                .configure(move |cfg| http::mount(&prefix, cfg))
        });
        let server = match tls {
            Some((cert, config)) => {
                cert.spawn_watcher();
                server.listen_rustls_0_23(listener, config)
            }
            None => server.listen(listener),
        }
        .map_err(|source| StartError::Listen {
            addr: format!("port {port}"),
            source,
        })?
        .run();
        let metrics = metrics_listener
            .map(|listener| serve_metrics(&state, listener))
            .transpose()?;
        Ok(Self {
            port,
            state,
            server,
            metrics,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state (database, keys, settings), for the CLI and tests.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A shared handle on the state that outlives the server's start (tests keep one).
    pub fn state_handle(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// The port of the separate metrics listener, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            None => self.server.await,
            Some((_, metrics)) => tokio::try_join!(self.server, metrics).map(|_| ()),
        }
    }
}

/// The separate metrics listener: plain HTTP, one worker, `/metrics` only. Meant for a private
/// interface, so it has no TLS; the token, when set, applies here too.
fn serve_metrics(
    state: &web::Data<AppState>,
    listener: TcpListener,
) -> Result<(u16, Server), StartError> {
    let fail = |source| StartError::Listen {
        addr: "the metrics listener".into(),
        source,
    };
    let port = listener.local_addr().map_err(fail)?.port();
    let state = state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(http::metrics_routes)
    })
    .workers(1)
    .listen(listener)
    .map_err(fail)?
    .run();
    tracing::info!(port, "metrics served on a separate listener");
    Ok((port, server))
}

/// Every ten minutes, deletes expired rows (see `store::auth::purge_expired`) and truncates
/// SQLite's write-ahead log. Every node runs it; the deletes are idempotent, so several at once
/// only repeat each other's work.
fn spawn_purger(db: Db) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            match db.run(crate::store::auth::purge_expired).await {
                Ok(purged) => tracing::debug!(?purged, "purged expired rows"),
                Err(error) => tracing::warn!(%error, "could not purge expired rows"),
            }
            if let Err(error) = db.checkpoint().await {
                tracing::warn!(%error, "could not checkpoint the write-ahead log");
            }
        }
    });
}
