//! What a run collected, and the table it prints: medians over the rounds, ratios Sesame/peer,
//! and the targets with "met" or "NOT met" (a figure, never a failure: speed does not
//! change the exit status).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::load::Sample;
use crate::targets::Kind;

/// The figures measured against every target, in the order of a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Figure {
    SignIn,
    Exchange,
    CcRs256,
    CcEs256,
    Refresh,
    UserInfo,
    Jwks,
    Discovery,
}

impl Figure {
    pub const ALL: [Figure; 8] = [
        Self::SignIn,
        Self::Exchange,
        Self::CcRs256,
        Self::CcEs256,
        Self::Refresh,
        Self::UserInfo,
        Self::Jwks,
        Self::Discovery,
    ];

    /// What one request (or sign-in) of the figure is.
    fn name(self) -> &'static str {
        match self {
            Self::SignIn => "full sign-in",
            Self::Exchange => "code exchange",
            Self::CcRs256 => "client_credentials RS256 JWT",
            Self::CcEs256 => "client_credentials ES256 JWT",
            Self::Refresh => "refresh",
            Self::UserInfo => "UserInfo",
            Self::Jwks => "JWKS",
            Self::Discovery => "discovery",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::SignIn => "full sign-ins/s",
            Self::Exchange => "code exchange req/s",
            Self::CcRs256 => "client_credentials RS256 JWT req/s",
            Self::CcEs256 => "client_credentials ES256 JWT req/s",
            Self::Refresh => "refresh req/s",
            Self::UserInfo => "UserInfo req/s",
            Self::Jwks => "JWKS req/s",
            Self::Discovery => "discovery req/s",
        }
    }
}

/// One round's figure.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    pub rate: f64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

impl From<&Sample> for Round {
    fn from(s: &Sample) -> Self {
        Self {
            rate: s.per_second(),
            p50: s.percentile_ms(50.0),
            p99: s.percentile_ms(99.0),
        }
    }
}

/// Reads one of a target's memory figures.
type MemoryPick = fn(&Memory) -> Option<u64>;

/// Memory of one target, kB (VmRSS, VmHWM from /proc/PID/status).
#[derive(Debug, Clone, Default)]
pub struct Memory {
    pub idle: Option<(u64, u64)>,
    /// The largest VmRSS sampled (every 100 ms) while sign-ins ran.
    pub peak_under_signins: u64,
    pub after_sessions: Option<(u64, u64)>,
    pub sessions_done: usize,
}

#[derive(Debug, Default)]
pub struct Results {
    pub kinds: Vec<Kind>,
    pub rounds: usize,
    pub concurrency: usize,
    pub sessions: usize,
    pub figures: BTreeMap<(Figure, Kind), Vec<Round>>,
    /// Why a cell is not measured.
    pub na: BTreeMap<(Figure, Kind), String>,
    /// Failed requests by figure and target, with the first reasons.
    pub failures: BTreeMap<(String, Kind), (u64, Vec<String>)>,
    pub argon2_all_cores: Vec<f64>,
    pub argon2_one_core: Vec<f64>,
    pub rsa2048: Vec<f64>,
    pub p256: Vec<f64>,
    pub memory: BTreeMap<Kind, Memory>,
    /// Sign-ins per second with the server pinned to core 0, the load generator on core 1.
    pub per_core: BTreeMap<Kind, Round>,
    pub per_core_argon2: Option<f64>,
    pub per_core_skipped: Option<String>,
    pub machine: String,
    pub load_before: String,
    pub load_after: String,
    /// Text messages the SMS receiver got, and how many of them no sign-in was waiting for.
    pub sms: (u64, u64),
}

impl Results {
    pub fn record(&mut self, figure: Figure, kind: Kind, sample: &Sample) {
        self.figures
            .entry((figure, kind))
            .or_default()
            .push(Round::from(sample));
        self.count_failures(figure.label(), kind, sample);
    }

    pub fn count_failures(&mut self, what: &str, kind: Kind, sample: &Sample) {
        if sample.failed == 0 {
            return;
        }
        let entry = self.failures.entry((what.to_string(), kind)).or_default();
        entry.0 += sample.failed;
        for e in &sample.errors {
            if entry.1.len() < 5 {
                entry.1.push(e.clone());
            }
        }
    }

    pub fn failed_total(&self) -> u64 {
        self.failures.values().map(|(n, _)| n).sum()
    }

    fn median_of(
        &self,
        figure: Figure,
        kind: Kind,
        pick: fn(&Round) -> Option<f64>,
    ) -> Option<f64> {
        median(
            self.figures
                .get(&(figure, kind))?
                .iter()
                .filter_map(pick)
                .collect(),
        )
    }

    fn rate(&self, figure: Figure, kind: Kind) -> Option<f64> {
        self.median_of(figure, kind, |r| Some(r.rate))
    }

    /// The printed report (a Markdown table, ready for BENCHMARKS.md).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let sesames: Vec<Kind> = self
            .kinds
            .iter()
            .copied()
            .filter(|k| k.is_sesame())
            .collect();
        let has_peer = self.kinds.contains(&Kind::Peer);
        let _ = writeln!(out, "\n## Results\n");
        let _ = writeln!(out, "{}", self.machine);
        let _ = writeln!(
            out,
            "Medians of {} round(s), {} in flight; load average before {} / after {}.\n",
            self.rounds, self.concurrency, self.load_before, self.load_after
        );
        let mut header = "| figure |".to_string();
        let mut rule = "| --- |".to_string();
        for k in &self.kinds {
            let _ = write!(header, " {} |", k.name());
            rule.push_str(" ---: |");
        }
        if has_peer {
            for k in &sesames {
                let _ = write!(header, " {}/peer |", short(*k));
                rule.push_str(" ---: |");
            }
        }
        header.push_str(" target |");
        rule.push_str(" --- |");
        let _ = writeln!(out, "{header}\n{rule}");

        let rsa_bound = median(self.rsa2048.clone());
        for figure in Figure::ALL {
            let target = match figure {
                Figure::SignIn => Target::Ratio(1.3),
                Figure::Exchange | Figure::Refresh | Figure::UserInfo => Target::Ratio(2.0),
                Figure::CcEs256 => Target::Ratio(3.0),
                Figure::CcRs256 => Target::OfBound(0.9, rsa_bound, "the RSA-2048 signing bound"),
                Figure::Jwks | Figure::Discovery => Target::Ratio(5.0),
            };
            let values: Vec<Option<f64>> =
                self.kinds.iter().map(|k| self.rate(figure, *k)).collect();
            let cells: Vec<String> = self
                .kinds
                .iter()
                .zip(&values)
                .map(|(k, v)| match (v, self.na.get(&(figure, *k))) {
                    (Some(v), _) => fmt_rate(*v),
                    (None, Some(why)) => format!("n/a ({why})"),
                    (None, None) => "n/a".into(),
                })
                .collect();
            self.row(&mut out, figure.label(), cells, figure, &target, |f| {
                self.rate(f, Kind::Peer)
            });
            if figure == Figure::SignIn {
                for (label, pick) in [
                    (
                        "sign-in p50 ms",
                        (|r: &Round| r.p50) as fn(&Round) -> Option<f64>,
                    ),
                    ("sign-in p99 ms", |r: &Round| r.p99),
                ] {
                    let cells: Vec<String> = self
                        .kinds
                        .iter()
                        .map(|k| {
                            self.median_of(figure, *k, pick)
                                .map_or("n/a".into(), |v| format!("{v:.0}"))
                        })
                        .collect();
                    let target = if label.contains("p99") {
                        Target::AtMostPeer(self.median_of(figure, Kind::Peer, pick))
                    } else {
                        Target::None
                    };
                    let peer = self.median_of(figure, Kind::Peer, pick);
                    let mut line = format!("| {label} |");
                    for c in cells {
                        let _ = write!(line, " {c} |");
                    }
                    if has_peer {
                        for k in &sesames {
                            let ratio = self
                                .median_of(figure, *k, pick)
                                .zip(peer)
                                .map(|(s, p)| s / p);
                            let _ = write!(line, " {} |", fmt_ratio(ratio));
                        }
                    }
                    let verdicts = sesames
                        .iter()
                        .map(|k| target.judge(self.median_of(figure, *k, pick), peer))
                        .collect::<Vec<_>>();
                    let _ = writeln!(line, " {} |", target.describe(&verdicts, &sesames));
                    out.push_str(&line);
                }
            }
        }

        // Memory, MB.
        let mb = |kb: u64| format!("{:.0}", kb as f64 / 1024.0);
        let memory_rows: [(&str, MemoryPick, Option<f64>); 4] = [
            ("RSS idle MB", |m| m.idle.map(|(rss, _)| rss), Some(30.0)),
            (
                "RSS peak under the sign-in load MB",
                |m| (m.peak_under_signins > 0).then_some(m.peak_under_signins),
                Some(100.0),
            ),
            (
                "RSS after the sessions MB",
                |m| m.after_sessions.map(|(rss, _)| rss),
                None,
            ),
            (
                "VmHWM after the sessions MB",
                |m| m.after_sessions.map(|(_, hwm)| hwm),
                None,
            ),
        ];
        for (label, pick, limit) in memory_rows {
            let label = if label.contains("sessions") {
                label.replace("the sessions", &format!("{} sessions", self.sessions))
            } else {
                label.to_string()
            };
            let mut line = format!("| {label} |");
            for k in &self.kinds {
                let v = self.memory.get(k).and_then(pick);
                let _ = write!(line, " {} |", v.map_or("n/a".into(), mb));
            }
            let peer = self.memory.get(&Kind::Peer).and_then(pick);
            if has_peer {
                for k in &sesames {
                    let s = self.memory.get(k).and_then(pick);
                    let ratio = s.zip(peer).map(|(s, p)| s as f64 / p as f64);
                    let _ = write!(line, " {} |", fmt_ratio(ratio));
                }
            }
            let target = match limit {
                Some(limit) => {
                    let verdicts: Vec<Option<bool>> = sesames
                        .iter()
                        .map(|k| {
                            self.memory
                                .get(k)
                                .and_then(pick)
                                .map(|kb| (kb as f64 / 1024.0) < limit)
                        })
                        .collect();
                    Target::Below(limit).describe(&verdicts, &sesames)
                }
                None => String::new(),
            };
            let _ = writeln!(line, " {target} |");
            out.push_str(&line);
        }

        // Latencies of every figure.
        let _ = writeln!(
            out,
            "\n### Latency p50 / p99 ms ({} in flight, medians of the rounds)\n",
            self.concurrency
        );
        let mut header = "| figure |".to_string();
        let mut rule = "| --- |".to_string();
        for k in &self.kinds {
            let _ = write!(header, " {} |", k.name());
            rule.push_str(" ---: |");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        for figure in Figure::ALL {
            let mut line = format!("| {} |", figure.name());
            for k in &self.kinds {
                let p50 = self.median_of(figure, *k, |r| r.p50);
                let p99 = self.median_of(figure, *k, |r| r.p99);
                let cell = match (p50, p99) {
                    (Some(a), Some(b)) => format!("{} / {}", fmt_ms(a), fmt_ms(b)),
                    _ => "n/a".into(),
                };
                let _ = write!(line, " {cell} |");
            }
            let _ = writeln!(out, "{line}");
        }

        // Bounds.
        let _ = writeln!(out, "\n### Bounds (Sesame's own code, same run)\n");
        let _ = writeln!(out, "| bound | per second |\n| --- | ---: |");
        for (label, values) in [
            (
                "argon2id verifications, all cores (sesame::password::Hasher)",
                &self.argon2_all_cores,
            ),
            (
                "argon2id verifications, one core (pinned to core 0)",
                &self.argon2_one_core,
            ),
            (
                "RS256 signatures (RSA-2048), all cores (sesame::keys::jwk::Signer)",
                &self.rsa2048,
            ),
            ("ES256 signatures (P-256), all cores", &self.p256),
        ] {
            let _ = writeln!(
                out,
                "| {label} | {} |",
                median(values.clone()).map_or("n/a".into(), fmt_rate)
            );
        }
        if let Some(peak) = median(self.argon2_all_cores.clone()) {
            let _ = writeln!(out);
            for k in &sesames {
                if let Some(rate) = self.rate(Figure::SignIn, *k) {
                    let _ = writeln!(
                        out,
                        "- {}: full sign-ins/s are {:.0}% of the all-core argon2id bound.",
                        k.name(),
                        100.0 * rate / peak
                    );
                }
            }
        }

        // Per core.
        let _ = writeln!(
            out,
            "\n### Per core (server on core 0, load generator on core 1)\n"
        );
        match (&self.per_core_skipped, self.per_core_argon2) {
            (Some(why), _) => {
                let _ = writeln!(out, "Not run: {why}.");
            }
            (None, argon2) => {
                let _ = writeln!(
                    out,
                    "argon2id verifications/s on core 0 alone: {}\n",
                    argon2.map_or("n/a".into(), fmt_rate)
                );
                let _ = writeln!(
                    out,
                    "| target | full sign-ins/s | p50 ms | p99 ms | of argon2 on that core | target ≥ 85% |\n| --- | ---: | ---: | ---: | ---: | --- |"
                );
                for (k, r) in &self.per_core {
                    let share = argon2.map(|a| r.rate / a);
                    let verdict = if k.is_sesame() {
                        verdict(share.map(|s| s >= 0.85)).to_string()
                    } else {
                        "(peer)".into()
                    };
                    let _ = writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {verdict} |",
                        k.name(),
                        fmt_rate(r.rate),
                        r.p50.map_or("n/a".into(), |v| format!("{v:.0}")),
                        r.p99.map_or("n/a".into(), |v| format!("{v:.0}")),
                        share.map_or("n/a".into(), |s| format!("{:.0}%", 100.0 * s)),
                    );
                }
            }
        }

        // Failures.
        let _ = writeln!(out, "\n### Failures\n");
        let _ = writeln!(
            out,
            "Text messages received from Sesame's HTTP gateway: {} ({} that no sign-in was waiting for: late or repeated deliveries).\n",
            self.sms.0, self.sms.1
        );
        if self.failures.is_empty() {
            let _ = writeln!(
                out,
                "None: every request and sign-in was answered as expected."
            );
        } else {
            for ((what, kind), (n, errors)) in &self.failures {
                let _ = writeln!(out, "- {} {what}: {n} failed", kind.name());
                for e in errors {
                    let _ = writeln!(out, "  - {e}");
                }
            }
        }
        out
    }

    /// A figure's row: the cells, the ratios to the peer, the target and verdicts.
    fn row(
        &self,
        out: &mut String,
        label: &str,
        cells: Vec<String>,
        figure: Figure,
        target: &Target,
        peer_of: impl Fn(Figure) -> Option<f64>,
    ) {
        let sesames: Vec<Kind> = self
            .kinds
            .iter()
            .copied()
            .filter(|k| k.is_sesame())
            .collect();
        let peer = peer_of(figure);
        let mut line = format!("| {label} |");
        for c in cells {
            let _ = write!(line, " {c} |");
        }
        if self.kinds.contains(&Kind::Peer) {
            for k in &sesames {
                let ratio = self.rate(figure, *k).zip(peer).map(|(s, p)| s / p);
                let _ = write!(line, " {} |", fmt_ratio(ratio));
            }
        }
        let verdicts: Vec<Option<bool>> = sesames
            .iter()
            .map(|k| target.judge(self.rate(figure, *k), peer))
            .collect();
        let _ = writeln!(line, " {} |", target.describe(&verdicts, &sesames));
        out.push_str(&line);
    }
}

/// An issue's target for a figure.
#[derive(Debug)]
enum Target {
    /// At least this many times the peer.
    Ratio(f64),
    /// At least this share of a bound measured in the same run.
    OfBound(f64, Option<f64>, &'static str),
    /// At most the peer's (latency).
    AtMostPeer(Option<f64>),
    /// Below this many MB.
    Below(f64),
    None,
}

impl Target {
    fn judge(&self, sesame: Option<f64>, peer: Option<f64>) -> Option<bool> {
        let s = sesame?;
        match self {
            Self::Ratio(r) => Some(s >= r * peer?),
            Self::OfBound(share, bound, _) => Some(s >= share * (*bound)?),
            Self::AtMostPeer(p) => Some(s <= (*p)?),
            Self::Below(limit) => Some(s < *limit),
            Self::None => None,
        }
    }

    fn describe(&self, verdicts: &[Option<bool>], sesames: &[Kind]) -> String {
        let what = match self {
            Self::Ratio(r) => format!("≥ {r}× peer"),
            Self::OfBound(share, bound, name) => format!(
                "≥ {:.0}% of {name} ({})",
                share * 100.0,
                bound.map_or("n/a".into(), fmt_rate)
            ),
            Self::AtMostPeer(_) => "≤ peer".into(),
            Self::Below(limit) => format!("< {limit} MB"),
            Self::None => return String::new(),
        };
        let judged: Vec<String> = sesames
            .iter()
            .zip(verdicts)
            .map(|(k, v)| format!("{} {}", short(*k), verdict(*v)))
            .collect();
        format!("{what}: {}", judged.join(", "))
    }
}

fn verdict(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "n/a",
    }
}

fn short(kind: Kind) -> &'static str {
    match kind {
        Kind::SesameSqlite => "SQLite",
        Kind::SesamePostgres => "PostgreSQL",
        Kind::Peer => "peer",
    }
}

pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

pub fn fmt_rate(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn fmt_ms(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{r:.2}×"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_verdicts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(
            Target::Ratio(1.3).judge(Some(130.0), Some(100.0)),
            Some(true)
        );
        assert_eq!(
            Target::Ratio(1.3).judge(Some(129.0), Some(100.0)),
            Some(false)
        );
        assert_eq!(Target::Ratio(1.3).judge(Some(129.0), None), None);
        assert_eq!(
            Target::AtMostPeer(Some(10.0)).judge(Some(11.0), None),
            Some(false)
        );
        assert_eq!(Target::Below(100.0).judge(Some(99.0), None), Some(true));
    }

    #[test]
    fn the_report_shows_ratios_targets_and_failures() {
        let mut results = Results {
            kinds: vec![Kind::SesameSqlite, Kind::Peer],
            rounds: 1,
            concurrency: 8,
            sessions: 100,
            ..Results::default()
        };
        let sample = |rate: u64| Sample {
            ok: rate,
            elapsed: std::time::Duration::from_secs(1),
            latencies: vec![std::time::Duration::from_millis(10); rate as usize],
            ..Sample::default()
        };
        results.record(Figure::SignIn, Kind::SesameSqlite, &sample(60));
        results.record(Figure::SignIn, Kind::Peer, &sample(40));
        let failed = Sample {
            failed: 2,
            errors: vec!["token: 400".into()],
            ..Sample::default()
        };
        results.record(Figure::Refresh, Kind::Peer, &failed);
        results
            .na
            .insert((Figure::CcEs256, Kind::SesameSqlite), "no ES256".into());
        let text = results.render();
        assert!(
            text.contains("| full sign-ins/s | 60.0 | 40.0 | 1.50× | ≥ 1.3× peer: SQLite met |"),
            "{text}"
        );
        assert!(text.contains("n/a (no ES256)"), "{text}");
        assert!(text.contains("peer refresh req/s: 2 failed"), "{text}");
        assert_eq!(results.failed_total(), 2);
    }
}
