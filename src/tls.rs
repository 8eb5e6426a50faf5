//! Serving HTTPS with certificates that can be replaced while running: the rustls server config
//! asks [`ReloadingCert`] for the certificate at each handshake, and a task swaps in a new one on
//! SIGHUP or when the files change (checked every second), so renewing a certificate (certbot,
//! cert-manager) needs no restart. A new pair that does not load leaves the old one in place.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::TlsSettings;

/// The certificate served now; replaced whole, so a handshake never sees half a pair.
#[derive(Debug)]
pub struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
    provider: Arc<CryptoProvider>,
    cert: PathBuf,
    key: PathBuf,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .map_or_else(|e| e.into_inner().clone(), |c| c.clone()),
        )
    }
}

impl ReloadingCert {
    /// Loads the pair once; an error here stops the start, naming the file.
    pub fn load(tls: &TlsSettings) -> Result<Arc<Self>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = load_pair(&tls.cert, &tls.key, &provider)?;
        Ok(Arc::new(Self {
            current: RwLock::new(Arc::new(current)),
            provider,
            cert: tls.cert.clone(),
            key: tls.key.clone(),
        }))
    }

    /// Reads the files again and serves the new pair if it loads.
    pub fn reload(&self) -> Result<(), String> {
        let pair = load_pair(&self.cert, &self.key, &self.provider)?;
        match self.current.write() {
            Ok(mut current) => *current = Arc::new(pair),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(pair),
        }
        Ok(())
    }

    /// The rustls server config (TLS 1.2 and 1.3; actix-web adds the ALPN protocols, `h2` and
    /// `http/1.1`).
    pub fn server_config(self: &Arc<Self>) -> Result<rustls::ServerConfig, String> {
        Ok(
            rustls::ServerConfig::builder_with_provider(self.provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_no_client_auth()
                .with_cert_resolver(self.clone()),
        )
    }

    /// Reloads on SIGHUP and when either file's modification time or size changes.
    pub fn spawn_watcher(self: &Arc<Self>) {
        let this = self.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hangup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            let mut seen = this.stamp();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                #[cfg(unix)]
                let signalled = async {
                    match hangup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let signalled = std::future::pending::<Option<()>>();
                let why = tokio::select! {
                    _ = signalled => "SIGHUP",
                    _ = tick.tick() => {
                        let now = this.stamp();
                        if now == seen {
                            continue;
                        }
                        seen = now;
                        "the files changed"
                    }
                };
                match this.reload() {
                    Ok(()) => tracing::info!(reason = why, "TLS certificate reloaded"),
                    Err(error) => tracing::warn!(
                        reason = why,
                        %error,
                        "TLS certificate not reloaded; still serving the previous one"
                    ),
                }
            }
        });
    }

    fn stamp(&self) -> [Option<(SystemTime, u64)>; 2] {
        let of = |path: &Path| {
            std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        };
        [of(&self.cert), of(&self.key)]
    }
}

fn load_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let open = |path: &Path| {
        std::fs::File::open(path)
            .map(std::io::BufReader::new)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut open(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no PEM certificate found (SESAME_TLS_CERT)",
            cert.display()
        ));
    }
    let private: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut open(key)?)
        .map_err(|e| format!("{}: {e}", key.display()))?
        .ok_or_else(|| {
            format!(
                "{}: no PEM private key found (SESAME_TLS_KEY)",
                key.display()
            )
        })?;
    CertifiedKey::from_der(certs, private, provider)
        .map_err(|e| format!("certificate and key do not fit: {e}"))
}
