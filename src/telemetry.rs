//! Logging: `tracing` to standard error, as text or JSON lines, filtered by `SESAME_LOG`.
//! Standard output is left to what a developer reads (the demo banner, the console SMS channel
//! and mailer), so a JSON log stream never has those lines mixed in.
//!
//! Traces: when an OTLP endpoint is configured (see `config::TraceSettings`), the same `tracing`
//! spans are also exported as OpenTelemetry spans over OTLP/HTTP. Nothing of it exists otherwise:
//! no exporter, no thread, no extra layer. Only spans of Sesame's own code are exported, never
//! log events: the spans' fields are chosen to hold no secret (see `http::SesameRootSpan`), while
//! log lines carry more detail than a trace backend should keep.

use std::collections::HashMap;
use std::io::{Read, Write};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{LogFormat, LogSettings, TraceSettings};

/// How long one export may take; the collector is expected to be near.
const EXPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// A collector's answer is a few bytes; more is not read.
const MAX_ANSWER: u64 = 1024 * 1024;

/// Installs the global subscriber (logs only). Safe to call more than once (later calls do
/// nothing), which tests rely on.
pub fn init(settings: &LogSettings) {
    let _ = install(settings, None);
}

/// Installs the global subscriber with trace export when `traces` is set. Keep the returned
/// handle and call [`Telemetry::shutdown`] when the server has stopped, so the spans still
/// buffered are sent.
pub fn init_with_traces(
    settings: &LogSettings,
    traces: Option<&TraceSettings>,
) -> Result<Telemetry, String> {
    install(settings, traces)
}

/// The trace pipeline, if any.
#[derive(Debug, Default)]
#[must_use = "call shutdown() when the server stops, or buffered spans are lost"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered and stops the export thread (blocks up to the export
    /// timeout). Call it outside async code: it waits on a thread.
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "could not export the last traces");
        }
    }
}

/// The event sinks' broker clients, whose DEBUG and TRACE output holds whole frames: a
/// message's body, which for an OTP notification is the code.
const BROKER_CLIENTS: [&str; 5] = ["lapin", "amq_protocol", "async_nats", "redis", "tcp_stream"];

/// Keeps the broker clients' frames out of the log whatever `SESAME_LOG` asks for.
fn no_broker_frames(meta: &tracing::Metadata<'_>) -> bool {
    loggable(*meta.level(), meta.target())
}

fn loggable(level: tracing::Level, target: &str) -> bool {
    level <= tracing::Level::INFO
        || !BROKER_CLIENTS.iter().any(|c| {
            target
                .strip_prefix(c)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

fn install(settings: &LogSettings, traces: Option<&TraceSettings>) -> Result<Telemetry, String> {
    use tracing_subscriber::filter::FilterExt;
    let filter = EnvFilter::try_new(&settings.filter)
        .unwrap_or_else(|_| EnvFilter::new("info"))
        .and(tracing_subscriber::filter::filter_fn(no_broker_frames));
    let fmt = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in files and log collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // The log filter applies to the log output only, so `SESAME_LOG=warn` does not empty traces.
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = match settings.format {
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => fmt
            .with_writer(|| OneLine(std::io::stderr()))
            .with_filter(filter)
            .boxed(),
    };
    let provider = traces.map(build_provider).transpose()?;
    let otel = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("sesame"))
            .with_location(false)
            .with_threads(false)
            .with_filter(tracing_subscriber::filter::filter_fn(exported))
    });
    if tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init()
        .is_err()
    {
        // A subscriber was already installed (tests): this one's exporter would never be used.
        if let Some(provider) = provider {
            let _ = provider.shutdown();
        }
        return Ok(Telemetry::default());
    }
    Ok(Telemetry { provider })
}

/// What becomes an OpenTelemetry span: spans (not events) of Sesame's code, down to DEBUG,
/// where the finer spans (engine step, password hash, database, outbound calls) sit so that
/// the log output at its default level does not show them.
fn exported(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span() && meta.target().starts_with("sesame") && *meta.level() <= tracing::Level::DEBUG
}

fn build_provider(settings: &TraceSettings) -> Result<SdkTracerProvider, String> {
    let client = reqwest::blocking::Client::builder()
        .timeout(EXPORT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("traces: cannot build the HTTP client: {e}"))?;
    let headers: HashMap<String, String> = settings
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.expose().clone()))
        .collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(ExportClient(client))
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(settings.endpoint.as_str())
        // Enforced by the client too; `OTEL_EXPORTER_OTLP_TIMEOUT` is not read.
        .with_timeout(EXPORT_TIMEOUT)
        .with_headers(headers)
        .build()
        .map_err(|e| format!("traces: cannot set up the OTLP exporter: {e}"))?;
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    // A sampled parent (a trusted proxy's `traceparent`) is followed; new traces are kept at
    // the configured ratio, decided by trace id so every node agrees on a trace.
    let sampler = Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(settings.sample_ratio)));
    // The batch processor's thread exports every 5 s or 512 spans; `OTEL_BSP_*` tune it.
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(resource)
        .build())
}

/// The exporter's HTTP client: reqwest 0.12 (the one Sesame already uses, on rustls), blocking,
/// because the SDK's batch processor exports from its own thread, outside Tokio. The exporter
/// itself does not use Sesame's egress policy: the collector is the operator's own endpoint,
/// usually on a private address.
#[derive(Debug)]
struct ExportClient(reqwest::blocking::Client);

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let answer = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body.to_vec())
            .send()?;
        let status = answer.status();
        let headers = answer.headers().clone();
        let mut body = Vec::new();
        answer.take(MAX_ANSWER).read_to_end(&mut body)?;
        let mut response = Response::builder().status(status).body(Bytes::from(body))?;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// Keeps each text log event on one line: a CR or LF inside it (a field carrying request input,
/// say a `grant_type` with a line break) is written as `\r` or `\n`, so it cannot forge a line.
/// The formatter hands over each event whole, ending with its own newline. JSON needs no such
/// care: its strings are escaped.
#[derive(Debug)]
struct OneLine<W>(W);

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match buf.strip_suffix(b"\n") {
            Some(body) => (body, &b"\n"[..]),
            None => (buf, &b""[..]),
        };
        if !body.iter().any(|b| matches!(b, b'\r' | b'\n')) {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut line = Vec::with_capacity(buf.len() + 8);
        for &b in body {
            match b {
                b'\n' => line.extend_from_slice(b"\\n"),
                b'\r' => line.extend_from_slice(b"\\r"),
                b => line.push(b),
            }
        }
        line.extend_from_slice(end);
        self.0.write_all(&line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_clients_log_nothing_below_info() {
        use tracing::Level;
        for target in [
            "lapin::channels",
            "lapin",
            "async_nats::connector",
            "redis::aio",
        ] {
            assert!(!loggable(Level::TRACE, target), "{target}");
            assert!(!loggable(Level::DEBUG, target), "{target}");
            assert!(loggable(Level::INFO, target), "{target}");
            assert!(loggable(Level::WARN, target), "{target}");
        }
        // Other crates, and ours, as SESAME_LOG says.
        assert!(loggable(Level::TRACE, "sesame::events::worker"));
        assert!(loggable(Level::DEBUG, "redistributed"));
        assert!(loggable(Level::DEBUG, "lapinou::x"));
    }

    #[test]
    fn a_line_break_inside_an_event_is_escaped() {
        let mut out = OneLine(Vec::new());
        out.write_all(b"WARN grant_type=x\nINFO forged\r\n")
            .unwrap();
        out.write_all(b"INFO plain\n").unwrap();
        assert_eq!(
            String::from_utf8(out.0).unwrap(),
            "WARN grant_type=x\\nINFO forged\\r\nINFO plain\n"
        );
    }
}
