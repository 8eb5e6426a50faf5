//! The run: sign-ins in parallel through the balancer, the kill of one node in the middle of
//! them, and the figures.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::sign::Verifier;
use serde_json::Value;

use crate::sms::Inbox;

/// What the run is told.
#[derive(Debug, Clone)]
pub struct Plan {
    pub balancer: String,
    pub org: String,
    pub sign_ins: usize,
    pub concurrency: usize,
    /// Kill once this many sign-ins have completed (and some are mid-chain on the victim).
    pub kill_after: usize,
    pub victim_pid: u32,
    /// The victim's server name at the balancer (its `X-Served-By`).
    pub victim: String,
    pub deadline: Duration,
}

/// Counters printed at the end.
#[derive(Debug, Default)]
pub struct Figures {
    pub restarts: AtomicU64,
    pub client_retries: AtomicU64,
    pub resends: AtomicU64,
}

/// One sign-in's progress, for the snapshot at the kill.
#[derive(Debug, Default, Clone)]
struct Track {
    started: bool,
    finished: bool,
    outstanding: i64,
    nodes: BTreeSet<String>,
}

/// What was going on when the node was killed.
#[derive(Debug, Clone, Default)]
pub struct AtKill {
    pub completed: usize,
    pub in_flight: usize,
    pub mid_chain_on_victim: usize,
    pub outstanding_requests: i64,
}

#[derive(Debug)]
pub struct Run {
    pub plan: Plan,
    pub client: reqwest::Client,
    pub issuer: String,
    pub inbox: Inbox,
    pub keys: Jwks,
    pub figures: Figures,
    tracks: Mutex<Vec<Track>>,
    /// Answers by node, before and after the kill.
    answers: Mutex<BTreeMap<(bool, String), u64>>,
    kill_start: OnceLock<Instant>,
    kill_end: OnceLock<Instant>,
    at_kill: OnceLock<AtKill>,
    started: Instant,
    completed: AtomicU64,
}

impl Run {
    pub fn new(plan: Plan, inbox: Inbox) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(plan.concurrency)
            .build()
            .expect("an HTTP client");
        let issuer = format!("{}/t/{}", plan.balancer, plan.org);
        let keys = Jwks {
            url: format!("{issuer}/jwks"),
            client: client.clone(),
            keys: Mutex::new(Value::Null),
        };
        Self {
            tracks: Mutex::new(vec![Track::default(); plan.sign_ins]),
            plan,
            client,
            issuer,
            inbox,
            keys,
            figures: Figures::default(),
            answers: Mutex::default(),
            kill_start: OnceLock::new(),
            kill_end: OnceLock::new(),
            at_kill: OnceLock::new(),
            started: Instant::now(),
            completed: AtomicU64::new(0),
        }
    }

    /// A line on stderr, with the time since the start.
    pub fn note(&self, line: String) {
        eprintln!("[{:7.3}s] {line}", self.started.elapsed().as_secs_f64());
    }

    pub(crate) fn outstanding(&self, signin: usize, delta: i64) {
        let mut tracks = self.tracks.lock().expect("tracks lock");
        tracks[signin].started = true;
        tracks[signin].outstanding += delta;
    }

    pub(crate) fn answered(&self, signin: usize, node: &str) {
        self.tracks.lock().expect("tracks lock")[signin]
            .nodes
            .insert(node.to_string());
        let after = self.kill_start.get().is_some();
        *self
            .answers
            .lock()
            .expect("answers lock")
            .entry((after, node.to_string()))
            .or_default() += 1;
    }

    /// Whether a request sent at `sent` and over at `over` overlapped the kill.
    pub(crate) fn killed_between(&self, sent: Instant, over: Instant) -> bool {
        match self.kill_start.get() {
            None => false,
            Some(start) => over >= *start && self.kill_end.get().is_none_or(|end| sent <= *end),
        }
    }

    fn finished(&self, signin: usize) {
        self.tracks.lock().expect("tracks lock")[signin].finished = true;
        self.completed.fetch_add(1, Ordering::Relaxed);
    }

    /// Kills the victim once enough sign-ins completed and some are mid-chain on it with
    /// requests in flight. Returns when it has.
    async fn killer(self: Arc<Self>) {
        let want_outstanding = (self.plan.concurrency as i64 / 2).max(1);
        loop {
            tokio::time::sleep(Duration::from_millis(2)).await;
            let snapshot = {
                let tracks = self.tracks.lock().expect("tracks lock");
                let live: Vec<&Track> =
                    tracks.iter().filter(|t| t.started && !t.finished).collect();
                AtKill {
                    completed: self.completed.load(Ordering::Relaxed) as usize,
                    in_flight: live.len(),
                    mid_chain_on_victim: live
                        .iter()
                        .filter(|t| t.nodes.contains(&self.plan.victim))
                        .count(),
                    outstanding_requests: live.iter().map(|t| t.outstanding).sum(),
                }
            };
            if snapshot.completed < self.plan.kill_after
                || snapshot.mid_chain_on_victim == 0
                || snapshot.outstanding_requests < want_outstanding
            {
                continue;
            }
            let _ = self.kill_start.set(Instant::now());
            let status = Command::new("kill")
                .args(["-KILL", &self.plan.victim_pid.to_string()])
                .status();
            let _ = self.kill_end.set(Instant::now());
            self.note(format!(
                "SIGKILL to {} (pid {}): {status:?}; {} sign-ins in flight, {} of them mid-chain on {}, {} requests outstanding",
                self.plan.victim,
                self.plan.victim_pid,
                snapshot.in_flight,
                snapshot.mid_chain_on_victim,
                self.plan.victim,
                snapshot.outstanding_requests
            ));
            let _ = self.at_kill.set(snapshot);
            return;
        }
    }

    /// Runs every sign-in, kills the victim in the middle, prints the figures. Returns whether
    /// the run passed.
    pub async fn run(self: Arc<Self>) -> bool {
        let killer = tokio::spawn(self.clone().killer());
        let gate = Arc::new(tokio::sync::Semaphore::new(self.plan.concurrency));
        let mut tasks = Vec::new();
        for i in 0..self.plan.sign_ins {
            let run = self.clone();
            let gate = gate.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.expect("the gate stays open");
                let result = run.clone().sign_in(i).await;
                run.finished(i);
                result
            }));
        }
        let mut failures = Vec::new();
        let mut subjects = BTreeSet::new();
        let mut restarted = 0;
        let all = async {
            for (i, task) in tasks.into_iter().enumerate() {
                match task.await {
                    Ok(Ok(done)) => {
                        restarted += usize::from(done.restarts > 0);
                        subjects.insert(done.sub);
                    }
                    Ok(Err(why)) => failures.push(format!("sign-in {i}: {why}")),
                    Err(e) => failures.push(format!("sign-in {i}: the task failed: {e}")),
                }
            }
        };
        let timed_out = tokio::time::timeout(self.plan.deadline, all).await.is_err();
        killer.abort();
        let elapsed = self.started.elapsed().as_secs_f64();

        let completed = subjects.len();
        let failed = self.plan.sign_ins - completed;
        let at_kill = self.at_kill.get().cloned();
        let answers = self.answers.lock().expect("answers lock").clone();
        let per_node = |after: bool| {
            answers
                .iter()
                .filter(|((a, _), _)| *a == after)
                .map(|((_, node), n)| format!("{node} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for failure in &failures {
            println!("FAILED {failure}");
        }
        if timed_out {
            println!(
                "FAILED the run did not finish within {:?}",
                self.plan.deadline
            );
        }
        println!(
            "== two nodes behind HAProxy, {} killed with SIGKILL",
            self.plan.victim
        );
        let browser = (0..self.plan.sign_ins).filter(|i| i % 4 == 3).count();
        println!(
            "sign-ins attempted        {} ({} through the app-native JSON API, {browser} through the browser pages)",
            self.plan.sign_ins,
            self.plan.sign_ins - browser
        );
        println!("sign-ins completed        {completed} (distinct subjects)");
        println!("sign-ins failed           {failed}");
        match &at_kill {
            Some(k) => {
                println!(
                    "at the kill               {} completed, {} in flight ({} mid-chain with steps answered by {}), {} requests outstanding",
                    k.completed,
                    k.in_flight,
                    k.mid_chain_on_victim,
                    self.plan.victim,
                    k.outstanding_requests
                );
            }
            None => println!("at the kill               the node was never killed"),
        }
        println!(
            "sign-ins restarted        {restarted} (restarts from /authorize: {}, each after a step the dead node had run was refused as a replay)",
            self.figures.restarts.load(Ordering::Relaxed)
        );
        println!(
            "requests re-sent          {} by the client (502/503/504 or a cut connection)",
            self.figures.client_retries.load(Ordering::Relaxed)
        );
        println!(
            "new codes asked           {} (no text message within {}s)",
            self.figures.resends.load(Ordering::Relaxed),
            crate::chain::SMS_WAIT_SECONDS
        );
        println!("text messages received    {}", self.inbox.total());
        println!("answers before the kill   {}", per_node(false));
        println!("answers after the kill    {}", per_node(true));
        println!(
            "time                      {elapsed:.1} s ({:.1} sign-ins/s)",
            completed as f64 / elapsed
        );
        let mut ok = failed == 0 && failures.is_empty() && !timed_out;
        match &at_kill {
            None => {
                println!("FAILED the victim was never killed");
                ok = false;
            }
            Some(k) if k.mid_chain_on_victim == 0 => {
                println!("FAILED no sign-in was mid-chain on the victim at the kill");
                ok = false;
            }
            Some(_) => {}
        }
        println!("RESULT {}", if ok { "passed" } else { "FAILED" });
        ok
    }
}

/// The organization's key set, fetched through the balancer (again for an unknown `kid`).
#[derive(Debug)]
pub struct Jwks {
    url: String,
    client: reqwest::Client,
    keys: Mutex<Value>,
}

impl Jwks {
    /// The claims of an RS256 ID token whose signature a published key verifies.
    pub async fn verify(&self, token: &str) -> Result<Value, String> {
        let parts: Vec<&str> = token.split('.').collect();
        let [header, claims, signature] = parts[..] else {
            return Err("the ID token is not a JWS".into());
        };
        let decode = |part: &str| B64URL.decode(part).map_err(|_| "bad base64url".to_string());
        let header: Value = serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
        if header["alg"] != "RS256" {
            return Err(format!("unexpected alg in {header}"));
        }
        let kid = header["kid"].as_str().unwrap_or_default();
        let mut key = self.find(kid);
        if key.is_none() {
            let fetched: Value = self
                .client
                .get(&self.url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| format!("JWKS: {e}"))?
                .json()
                .await
                .map_err(|e| format!("JWKS: {e}"))?;
            *self.keys.lock().expect("jwks lock") = fetched;
            key = self.find(kid);
        }
        let key = key.ok_or_else(|| format!("no published key {kid}"))?;
        let component = |name: &str| {
            let bytes = decode(key[name].as_str().unwrap_or_default())?;
            BigNum::from_slice(&bytes).map_err(|e| e.to_string())
        };
        let rsa = Rsa::from_public_components(component("n")?, component("e")?)
            .map_err(|e| e.to_string())?;
        let pkey = PKey::from_rsa(rsa).map_err(|e| e.to_string())?;
        let mut verifier =
            Verifier::new(MessageDigest::sha256(), &pkey).map_err(|e| e.to_string())?;
        let signed = format!("{}.{claims}", parts[0]);
        verifier
            .update(signed.as_bytes())
            .map_err(|e| e.to_string())?;
        if !verifier
            .verify(&decode(signature)?)
            .map_err(|e| e.to_string())?
        {
            return Err(format!(
                "the ID token's signature does not verify with {kid}"
            ));
        }
        serde_json::from_slice(&decode(claims)?).map_err(|e| e.to_string())
    }

    fn find(&self, kid: &str) -> Option<Value> {
        self.keys.lock().expect("jwks lock")["keys"]
            .as_array()?
            .iter()
            .find(|k| k["kid"] == kid)
            .cloned()
    }
}
