//! Prometheus metrics: one registry per [`Core`](crate::state::Core), so several applications
//! in one process (tests) never share counters, and no global state.
//!
//! Components that measure their own work (the database pool in `store`, the password hasher)
//! own their instruments and this module registers them; everything else records through the
//! methods here. Label values are bounded: route patterns, not paths; organization slugs and
//! client ids, which only an administrator creates; fixed words for outcomes. Never a user,
//! a phone number or a client address.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::password::HashMetrics;
use crate::store::{Db, PoolMetrics};

/// Latency buckets for requests and outbound calls: 5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A family of histograms whose constructor is a plain function (so the type can be named).
pub type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// How long a scrape waits for the outbox figures before answering without them.
const OUTBOX_QUERY_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SignInLabels {
    organization: String,
    application: String,
    factor: &'static str,
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SmsLabels {
    organization: String,
    gateway: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MailLabels {
    organization: String,
    purpose: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct GatewayLabels {
    gateway: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DeliveryLabels {
    target: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TargetLabels {
    target: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LockLabels {
    organization: String,
    factor: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OrgLabels {
    organization: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TokenLabels {
    organization: String,
    application: String,
    grant_type: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PoolStateLabels {
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct VersionLabels {
    version: &'static str,
}

/// The registry and every instrument recorded outside the components that own theirs.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    sign_ins: Family<SignInLabels, Counter>,
    sms_sends: Family<SmsLabels, Counter>,
    sms_duration: HistogramFamily<GatewayLabels>,
    mail_sends: Family<MailLabels, Counter>,
    deliveries: Family<DeliveryLabels, Counter>,
    delivery_duration: HistogramFamily<TargetLabels>,
    account_locks: Family<LockLabels, Counter>,
    network_locks: Family<OrgLabels, Counter>,
    tokens: Family<TokenLabels, Counter>,
    outbox_pending: Family<TargetLabels, Gauge>,
    outbox_oldest: Family<TargetLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    outbox_query_failures: Counter,
    pool_connections: Family<PoolStateLabels, Gauge>,
    pool_max: Gauge,
}

impl Metrics {
    /// A registry with every series, the pool's and the hasher's instruments included.
    pub fn new(pool: &PoolMetrics, hash: &HashMetrics) -> Self {
        let mut m = Self {
            registry: Registry::default(),
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram),
            sign_ins: Family::default(),
            sms_sends: Family::default(),
            sms_duration: Family::new_with_constructor(latency_histogram),
            mail_sends: Family::default(),
            deliveries: Family::default(),
            delivery_duration: Family::new_with_constructor(latency_histogram),
            account_locks: Family::default(),
            network_locks: Family::default(),
            tokens: Family::default(),
            outbox_pending: Family::default(),
            outbox_oldest: Family::default(),
            outbox_query_failures: Counter::default(),
            pool_connections: Family::default(),
            pool_max: Gauge::default(),
        };
        let r = &mut m.registry;
        r.register_collector(Box::new(ProcessCollector));
        let info: Family<VersionLabels, Gauge> = Family::default();
        info.get_or_create(&VersionLabels {
            version: env!("CARGO_PKG_VERSION"),
        })
        .set(1);
        r.register(
            "sesame_build_info",
            "The running version (the value is always 1)",
            info,
        );
        r.register(
            "sesame_http_requests",
            "HTTP requests answered, by route pattern, method and status",
            m.http_requests.clone(),
        );
        r.register_with_unit(
            "sesame_http_request_duration",
            "Time to answer an HTTP request, by route pattern and method",
            Unit::Seconds,
            m.http_duration.clone(),
        );
        r.register(
            "sesame_sign_in_attempts",
            "Credentials presented to a sign-in step, by organization, application, factor, \
             outcome (passed, completed, failed, refused, shown) and reason",
            m.sign_ins.clone(),
        );
        r.register(
            "sesame_sms_sends",
            "Text messages handed to a gateway, by organization, gateway and outcome",
            m.sms_sends.clone(),
        );
        r.register_with_unit(
            "sesame_sms_send_duration",
            "Time a gateway took to take or refuse a text message",
            Unit::Seconds,
            m.sms_duration.clone(),
        );
        r.register(
            "sesame_mail_sends",
            "Mails handed to an organization's mailer, by organization, purpose (magic_link, \
             email_otp) and outcome (sent, error)",
            m.mail_sends.clone(),
        );
        r.register(
            "sesame_event_deliveries",
            "Delivery attempts of outbox events, by target (sms, webhook) and outcome \
             (delivered, retry, dead, unrecorded)",
            m.deliveries.clone(),
        );
        r.register_with_unit(
            "sesame_event_delivery_duration",
            "Time one delivery attempt took, by target",
            Unit::Seconds,
            m.delivery_duration.clone(),
        );
        r.register(
            "sesame_outbox_pending_deliveries",
            "Deliveries not yet delivered nor given up, by target (read from the database at \
             scrape time)",
            m.outbox_pending.clone(),
        );
        r.register_with_unit(
            "sesame_outbox_oldest_pending_age",
            "Age of the oldest pending delivery, by target (read at scrape time)",
            Unit::Seconds,
            m.outbox_oldest.clone(),
        );
        r.register(
            "sesame_outbox_query_failures",
            "Scrapes whose outbox figures could not be read within a second",
            m.outbox_query_failures.clone(),
        );
        r.register(
            "sesame_account_locks",
            "Accounts locked after repeated failures, by organization and the factor that failed",
            m.account_locks.clone(),
        );
        r.register(
            "sesame_network_locks",
            "Client networks made to wait after repeated failed sign-ins, by organization",
            m.network_locks.clone(),
        );
        r.register(
            "sesame_token_requests",
            "Token endpoint grants from authenticated clients, by organization, application, \
             grant type and outcome (issued, or the OAuth error code)",
            m.tokens.clone(),
        );
        r.register_with_unit(
            "sesame_password_hash_queue_wait",
            "Time a password hash waited for a free slot, by operation (verify, hash)",
            Unit::Seconds,
            hash.queue_wait.clone(),
        );
        r.register_with_unit(
            "sesame_password_hash_duration",
            "Time one argon2 computation took, by operation (verify, hash)",
            Unit::Seconds,
            hash.duration.clone(),
        );
        r.register(
            "sesame_password_hash_waiting",
            "Password hashes waiting for a free slot now",
            hash.waiting.clone(),
        );
        r.register(
            "sesame_password_hash_slots",
            "How many password hashes may run at once",
            hash.slots.clone(),
        );
        r.register(
            "sesame_db_pool_connections",
            "Database connections held by the pool, by state (in_use, idle)",
            m.pool_connections.clone(),
        );
        r.register(
            "sesame_db_pool_max_connections",
            "The pool's largest size",
            m.pool_max.clone(),
        );
        r.register_with_unit(
            "sesame_db_pool_wait",
            "Time a request waited for a database connection",
            Unit::Seconds,
            pool.wait.clone(),
        );
        r.register(
            "sesame_db_pool_timeouts",
            "Requests that got no database connection in time",
            pool.timeouts.clone(),
        );
        m
    }

    /// One answered request. `route` is the matched pattern (`/t/{org}/token`), never the path.
    pub fn http_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let method = known_method(method);
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.to_string(),
                method,
                status,
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.to_string(),
                method,
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A credential presented at a sign-in step and what came of it.
    pub fn sign_in(
        &self,
        organization: &str,
        application: &str,
        factor: &'static str,
        (outcome, reason): (&'static str, &'static str),
    ) {
        self.sign_ins
            .get_or_create(&SignInLabels {
                organization: organization.to_string(),
                application: application.to_string(),
                factor,
                outcome,
                reason,
            })
            .inc();
    }

    /// One message handed to one gateway. `outcome` is `sent`, `retryable_error` or
    /// `permanent_error`.
    pub fn sms_send(
        &self,
        organization: &str,
        gateway: &'static str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        self.sms_sends
            .get_or_create(&SmsLabels {
                organization: organization.to_string(),
                gateway,
                outcome,
            })
            .inc();
        self.sms_duration
            .get_or_create(&GatewayLabels { gateway })
            .observe(elapsed.as_secs_f64());
    }

    /// One mail handed to an organization's mailer: `purpose` is what it carries (`magic_link`,
    /// or the factor that sent a code), `outcome` `sent` or `error`.
    pub fn mail_send(&self, organization: &str, purpose: &'static str, sent: bool) {
        self.mail_sends
            .get_or_create(&MailLabels {
                organization: organization.to_string(),
                purpose,
                outcome: if sent { "sent" } else { "error" },
            })
            .inc();
    }

    /// One delivery attempt of an outbox event.
    pub fn delivery(&self, target: &'static str, outcome: &'static str, elapsed: Duration) {
        self.deliveries
            .get_or_create(&DeliveryLabels { target, outcome })
            .inc();
        self.delivery_duration
            .get_or_create(&TargetLabels { target })
            .observe(elapsed.as_secs_f64());
    }

    pub fn account_locked(&self, organization: &str, factor: &'static str) {
        self.account_locks
            .get_or_create(&LockLabels {
                organization: organization.to_string(),
                factor,
            })
            .inc();
    }

    pub fn network_locked(&self, organization: &str) {
        self.network_locks
            .get_or_create(&OrgLabels {
                organization: organization.to_string(),
            })
            .inc();
    }

    pub fn token(
        &self,
        organization: &str,
        application: &str,
        grant_type: &'static str,
        outcome: &'static str,
    ) {
        self.tokens
            .get_or_create(&TokenLabels {
                organization: organization.to_string(),
                application: application.to_string(),
                grant_type,
                outcome,
            })
            .inc();
    }

    /// The exposition: the pool's state and the outbox figures are read now (the outbox within
    /// [`OUTBOX_QUERY_TIMEOUT`]: a slow database leaves them out rather than stall the scrape).
    pub async fn render(&self, db: &Db, format: Format) -> String {
        let pool = db.pool_state();
        self.pool_max.set(i64::from(pool.max));
        self.pool_connections
            .get_or_create(&PoolStateLabels { state: "in_use" })
            .set(i64::from(pool.connections - pool.idle));
        self.pool_connections
            .get_or_create(&PoolStateLabels { state: "idle" })
            .set(i64::from(pool.idle));

        let now = crate::store::now();
        match db
            .run_within(OUTBOX_QUERY_TIMEOUT, crate::store::deliveries::backlog)
            .await
        {
            Ok(backlog) => {
                for target in crate::store::deliveries::KINDS {
                    let row = backlog.iter().find(|b| b.target == target);
                    let labels = TargetLabels { target };
                    self.outbox_pending
                        .get_or_create(&labels)
                        .set(row.map_or(0, |b| b.pending));
                    self.outbox_oldest.get_or_create(&labels).set(
                        row.and_then(|b| b.oldest_created_at)
                            .map_or(0.0, |t| (now - t).max(0) as f64),
                    );
                }
            }
            Err(error) => {
                tracing::warn!(%error, "metrics: cannot read the outbox backlog");
                self.outbox_query_failures.inc();
                self.outbox_pending.clear();
                self.outbox_oldest.clear();
            }
        }

        let mut out = String::new();
        let encoded = match format {
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
            Format::Text => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            }
        };
        encoded.expect("writing to a String cannot fail");
        out
    }
}

/// The usual `process_*` series (CPU time, memory, file descriptors, start time), read from
/// `/proc` at scrape time; nothing where there is no `/proc`.
#[derive(Debug)]
struct ProcessCollector;

/// What `/proc/self` says about this process.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ProcessFigures {
    cpu_seconds: f64,
    start_time_seconds: f64,
    virtual_bytes: u64,
    resident_bytes: u64,
    open_fds: u64,
    max_fds: Option<u64>,
}

/// `/proc` counts CPU time and start times in USER_HZ ticks, 100 a second on every Linux ABI.
const USER_HZ: f64 = 100.0;

impl ProcessFigures {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        Self::parse(&stat, &status, &boot, &limits, open_fds)
    }

    fn parse(stat: &str, status: &str, boot: &str, limits: &str, open_fds: u64) -> Option<Self> {
        // Fields after the command name (which may hold spaces and parentheses): the 3rd on.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let ticks = field(14)? + field(15)?;
        let btime: u64 = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        let rss_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        let max_fds = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok());
        Some(Self {
            cpu_seconds: ticks as f64 / USER_HZ,
            start_time_seconds: btime as f64 + field(22)? as f64 / USER_HZ,
            virtual_bytes: field(23)?,
            resident_bytes: rss_kib * 1024,
            open_fds,
            max_fds,
        })
    }
}

impl prometheus_client::collector::Collector for ProcessCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        let Some(p) = ProcessFigures::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(p.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "User and system CPU time spent.",
            None,
            cpu.metric_type(),
        )?)?;
        let mut gauges = vec![
            (
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch.",
                p.start_time_seconds,
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size.",
                p.resident_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size.",
                p.virtual_bytes as f64,
            ),
            (
                "process_open_fds",
                "Open file descriptors.",
                p.open_fds as f64,
            ),
        ];
        if let Some(max) = p.max_fds {
            gauges.push((
                "process_max_fds",
                "Most file descriptors the process may open.",
                max as f64,
            ));
        }
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

/// The exposition formats a scraper may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4 (the default).
    Text,
    /// OpenMetrics 1.0 text, when the `Accept` header asks for it.
    OpenMetrics,
}

impl Format {
    pub fn from_accept(accept: Option<&str>) -> Self {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Self::OpenMetrics,
            _ => Self::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Text => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// A method as a label: the standard ones by name, anything else as `other` (a client can send
/// any token as a method, and labels must stay bounded).
fn known_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_figures_from_proc() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 \
                    9 0 123456 987654321 2048 18446744073709551615";
        let status = "Name:\tsesame\nVmRSS:\t   8192 kB\nThreads:\t9\n";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n";
        let limits = "Limit  Soft Limit  Hard Limit  Units\n\
                      Max open files            1024                 524288               files\n";
        let p = ProcessFigures::parse(stat, status, boot, limits, 12).unwrap();
        assert_eq!(p.cpu_seconds, 3.0);
        assert_eq!(p.start_time_seconds, 1_700_000_000.0 + 1234.56);
        assert_eq!(p.virtual_bytes, 987_654_321);
        assert_eq!(p.resident_bytes, 8192 * 1024);
        assert_eq!(p.open_fds, 12);
        assert_eq!(p.max_fds, Some(1024));
        assert!(ProcessFigures::parse("garbage", status, boot, limits, 1).is_none());
        if std::path::Path::new("/proc/self/stat").exists() {
            let live = ProcessFigures::read().unwrap();
            assert!(live.resident_bytes > 0 && live.open_fds > 0);
        }
    }

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(known_method("GET"), "GET");
        assert_eq!(known_method("BREW"), "other");
    }

    #[test]
    fn openmetrics_only_when_asked() {
        assert_eq!(Format::from_accept(None), Format::Text);
        assert_eq!(Format::from_accept(Some("text/plain")), Format::Text);
        assert_eq!(
            Format::from_accept(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
            )),
            Format::OpenMetrics
        );
    }
}
