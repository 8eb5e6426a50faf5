//! `sesame config show`: the effective settings as TOML, secrets redacted.

use super::{KeySource, LogFormat, Settings};

impl Settings {
    /// The effective settings as TOML, secrets redacted (for `sesame config show`).
    pub fn to_redacted_toml(&self) -> String {
        use toml::{Table, Value};
        let s = |v: String| Value::String(v);
        let mut root = Table::new();
        root.insert("listen".into(), s(self.listen.to_string()));
        root.insert("base_url".into(), s(self.base_url.to_string()));
        root.insert("data_dir".into(), s(self.data_dir.display().to_string()));
        if let Some(dir) = &self.templates_dir {
            root.insert("templates_dir".into(), s(dir.display().to_string()));
        }
        root.insert(
            "trusted_proxies".into(),
            Value::Array(
                self.trusted_proxies
                    .iter()
                    .map(|n| s(n.to_string()))
                    .collect(),
            ),
        );
        let mut database = Table::new();
        database.insert("url".into(), s(self.database.url.to_string()));
        database.insert(
            "pool_size".into(),
            Value::Integer(self.database.pool_size.into()),
        );
        database.insert(
            "timeout_seconds".into(),
            Value::Integer(self.database.timeout.as_secs() as i64),
        );
        database.insert(
            "sqlite_synchronous".into(),
            s(self.database.sqlite_synchronous.as_str().to_string()),
        );
        root.insert("database".into(), Value::Table(database));
        let mut log = Table::new();
        log.insert("filter".into(), s(self.log.filter.clone()));
        log.insert(
            "format".into(),
            s(if self.log.format == LogFormat::Json {
                "json"
            } else {
                "text"
            }
            .into()),
        );
        root.insert("log".into(), Value::Table(log));
        if let Some(traces) = &self.traces {
            let mut t = Table::new();
            t.insert("otlp_endpoint".into(), s(traces.endpoint.to_string()));
            t.insert("service_name".into(), s(traces.service_name.clone()));
            t.insert("sample_ratio".into(), Value::Float(traces.sample_ratio));
            let headers: Table = traces
                .headers
                .iter()
                .map(|(name, _)| (name.clone(), s("[redacted]".into())))
                .collect();
            t.insert("headers".into(), Value::Table(headers));
            root.insert("traces".into(), Value::Table(t));
        }
        if let Some(tls) = &self.tls {
            let mut t = Table::new();
            t.insert("cert".into(), s(tls.cert.display().to_string()));
            t.insert("key".into(), s(tls.key.display().to_string()));
            root.insert("tls".into(), Value::Table(t));
        }
        let mut keys = Table::new();
        match &self.key_encryption_key {
            KeySource::Inline(_) => keys.insert("encryption_key".into(), s("[redacted]".into())),
            KeySource::File(p) => {
                keys.insert("encryption_key_file".into(), s(p.display().to_string()))
            }
            KeySource::Development(p) => keys.insert(
                "encryption_key_file".into(),
                s(format!(
                    "{} (development key, generated if missing)",
                    p.display()
                )),
            ),
        };
        keys.insert(
            "cache_seconds".into(),
            Value::Integer(self.key_cache_ttl.as_secs() as i64),
        );
        root.insert("keys".into(), Value::Table(keys));
        let mut outbound = Table::new();
        outbound.insert(
            "allow_private".into(),
            Value::Boolean(self.outbound_allow_private),
        );
        root.insert("outbound".into(), Value::Table(outbound));
        let mut events = Table::new();
        events.insert(
            "delivery_lease_seconds".into(),
            Value::Integer(self.delivery_lease_seconds),
        );
        events.insert(
            "delivery_max_age_seconds".into(),
            Value::Integer(self.delivery_max_age_seconds),
        );
        events.insert(
            "delivery_concurrency".into(),
            Value::Integer(self.delivery_concurrency as i64),
        );
        root.insert("events".into(), Value::Table(events));
        let mut metrics = Table::new();
        metrics.insert("enabled".into(), Value::Boolean(self.metrics.enabled));
        if let Some(listen) = self.metrics.listen {
            metrics.insert("listen".into(), s(listen.to_string()));
        }
        if self.metrics.token.is_some() {
            metrics.insert("token".into(), s("[redacted]".into()));
        }
        root.insert("metrics".into(), Value::Table(metrics));
        toml::to_string(&root).expect("a TOML table serializes")
    }
}
