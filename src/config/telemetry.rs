//! The `[traces]` and `[metrics]` settings: where OpenTelemetry traces go, and who may read
//! `/metrics`.

use std::net::SocketAddr;

use serde::Deserialize;
use url::Url;

use super::{ConfigError, Raw, Sources, parse_bool, parse_secret, parse_with};
use crate::secret::Secret;

/// Who may read `/metrics`, and where.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    /// Off: `/metrics` answers 404 everywhere.
    pub enabled: bool,
    /// A separate address serving only `/metrics` (e.g. a private interface); when set, the
    /// main listener answers 404 there, so metrics never share the public port.
    pub listen: Option<SocketAddr>,
    /// A bearer token scrapers must send; without it anyone who reaches the endpoint reads it.
    pub token: Option<Secret<String>>,
}

/// Where and how traces are exported (OTLP over HTTP, protobuf). Present only when an endpoint
/// is configured.
#[derive(Debug, Clone)]
pub struct TraceSettings {
    /// The collector's traces URL, ending in `/v1/traces`.
    pub endpoint: Url,
    /// `service.name` of every span.
    pub service_name: String,
    /// The share of new traces recorded, 0.0 to 1.0. A trusted caller's sampling decision is
    /// followed (see `http::SesameRootSpan`).
    pub sample_ratio: f64,
    /// Extra headers on every export (a collector's credentials), resolved from their secret
    /// references at start.
    pub headers: Vec<(String, Secret<String>)>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTraces {
    otlp_endpoint: Option<String>,
    service_name: Option<String>,
    sample_ratio: Option<f64>,
    /// Header name -> where its value is read (`{ env = "…" }` or `{ file = "…" }`), so a
    /// collector's token never sits in the file.
    #[serde(default)]
    headers: std::collections::BTreeMap<String, sesame_plugin_api::SecretRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileMetrics {
    enabled: Option<bool>,
    listen: Option<String>,
    token: Option<String>,
    token_file: Option<String>,
}

/// The `[traces]` settings. The endpoint turns traces on; where it comes from, first found wins:
/// `SESAME_OTLP_ENDPOINT`, `traces.otlp_endpoint`, then the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
/// (used as is) and `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` appended). Sesame's own settings
/// win because the `OTEL_*` variables are often set for every process of a platform, as defaults.
/// `OTEL_SDK_DISABLED=true` turns traces off whatever else is set. The service name likewise:
/// `SESAME_SERVICE_NAME`, `traces.service_name`, `OTEL_SERVICE_NAME`, else `sesame`.
pub(super) fn parse_traces(
    src: &Sources<'_>,
    f: FileTraces,
) -> Result<Option<TraceSettings>, ConfigError> {
    if (src.env)("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return Ok(None);
    }
    // The standard variables count as unset when empty, as the OpenTelemetry spec says.
    let standard = |name: &str| {
        src.get(name, "", None)
            .filter(|r| !r.value.trim().is_empty())
    };
    let (raw, base) = match src.get(
        "SESAME_OTLP_ENDPOINT",
        "traces.otlp_endpoint",
        f.otlp_endpoint,
    ) {
        Some(raw) => (Some(raw), true),
        None => match standard("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") {
            Some(raw) => (Some(raw), false),
            None => (standard("OTEL_EXPORTER_OTLP_ENDPOINT"), true),
        },
    };
    // Not echoed when bad: a URL given with credentials in it must not reach the log.
    let endpoint = raw
        .map(|raw| parse_secret(raw, |v| parse_otlp_endpoint(v, base)))
        .transpose()?;
    // The other settings are checked even without an endpoint: a bad value is reported now, not
    // on the day traces are turned on.
    let service_name = parse_with(
        src.get("SESAME_SERVICE_NAME", "traces.service_name", f.service_name)
            .or_else(|| standard("OTEL_SERVICE_NAME")),
        "sesame".to_string(),
        |v| {
            let v = v.trim();
            if v.is_empty() || v.len() > 128 {
                Err("expected a name of 1 to 128 characters".into())
            } else {
                Ok(v.to_string())
            }
        },
    )?;
    let sample_ratio = parse_with(
        src.get(
            "SESAME_TRACE_SAMPLE_RATIO",
            "traces.sample_ratio",
            f.sample_ratio.map(|v| v.to_string()),
        ),
        1.0,
        |v| match v.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err("expected a number from 0.0 to 1.0".into()),
        },
    )?;
    let mut headers = Vec::new();
    for (name, secret) in f.headers {
        let setting = format!("traces.headers.{name}");
        let setting = match src.file {
            Some(path) => format!("`{setting}` in {}", path.display()),
            None => setting,
        };
        if actix_web::http::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(ConfigError::new(setting, "not a valid header name"));
        }
        let value = secret
            .resolve()
            .map_err(|e| ConfigError::new(setting.clone(), e))?;
        if actix_web::http::header::HeaderValue::from_str(&value).is_err() {
            return Err(ConfigError::new(
                setting,
                "the value is not a valid header value",
            ));
        }
        headers.push((name, Secret::new(value)));
    }
    let Some(endpoint) = endpoint else {
        return Ok(None);
    };
    Ok(Some(TraceSettings {
        endpoint,
        service_name,
        sample_ratio,
        headers,
    }))
}

/// An OTLP/HTTP URL. A base (`http://collector:4318`) gets `/v1/traces` appended when `base`
/// is set, unless it already ends so; no credentials or query in it (they would be logged).
fn parse_otlp_endpoint(value: &str, base: bool) -> Result<Url, String> {
    let mut url = Url::parse(value.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err("expected an http or https URL".into());
    }
    if url.host_str().is_none() {
        return Err("a host is required".into());
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err("must not carry credentials or a query (put a token in traces.headers)".into());
    }
    if base && !url.path().ends_with("/v1/traces") {
        let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    Ok(url)
}

/// The `[metrics]` settings. The token is given inline or, better, as a file (a mounted
/// secret), like the key-encryption key; it must be long enough not to be guessed.
pub(super) fn metrics_settings(
    src: &Sources<'_>,
    f: FileMetrics,
) -> Result<MetricsSettings, ConfigError> {
    let enabled = parse_with(
        src.get(
            "SESAME_METRICS_ENABLED",
            "metrics.enabled",
            f.enabled.map(|v| v.to_string()),
        ),
        true,
        parse_bool,
    )?;
    let listen = parse_with(
        src.get("SESAME_METRICS_LISTEN", "metrics.listen", f.listen),
        None,
        |v| {
            v.parse::<SocketAddr>()
                .map(Some)
                .map_err(|_| "expected ADDRESS:PORT, e.g. 127.0.0.1:9091 or [::1]:9091".to_string())
        },
    )?;
    let check = |v: &str| {
        if v.len() < 16 || !v.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            Err(
                "the metrics token must be at least 16 printable characters without spaces"
                    .to_string(),
            )
        } else {
            Ok(Secret::new(v.to_string()))
        }
    };
    let inline = src.get("SESAME_METRICS_TOKEN", "metrics.token", f.token);
    let file = src.get(
        "SESAME_METRICS_TOKEN_FILE",
        "metrics.token_file",
        f.token_file,
    );
    let token = match (inline, file) {
        (None, None) => None,
        (Some(raw), None) => Some(parse_secret(raw, check)?),
        (None, Some(raw)) => {
            let origin = raw.origin.clone();
            let text = std::fs::read_to_string(&raw.value).map_err(|e| {
                ConfigError::new(&origin, format!("cannot read {}: {e}", raw.value))
            })?;
            Some(parse_secret(
                Raw {
                    value: text.trim_end_matches(['\n', '\r']).to_string(),
                    origin,
                },
                check,
            )?)
        }
        (Some(raw), Some(_)) => {
            return Err(ConfigError::new(
                raw.origin,
                "set either the metrics token or its file, not both",
            ));
        }
    };
    Ok(MetricsSettings {
        enabled,
        listen,
        token,
    })
}
