//! The engine on its own: a temporary SQLite database, the capture SMS channel and a clock
//! passed in. No web server, no sleeping: time moves by changing `Ctx::now`.

use std::sync::Arc;

use super::*;
use crate::authn::outcome::{Notice, Outcome, Refusal, StepError, StepKind};
use crate::config::Settings;
use crate::keys::{Kek, KeyStore};
use crate::oidc::authorize::{Params, validate};
use crate::sms::Capture;
use crate::store::Db;
use crate::store::events::OutboxEvent;
use crate::store::now;

const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const CB: &str = "https://app.acme.example/callback";
const PASSWORD: &str = "alices-long-password";

struct Harness {
    core: Arc<Core>,
    org: Arc<OrgEntry>,
    sms: Arc<Capture>,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    harness_with(PROVISIONING).await
}

/// A harness whose organization is provisioned from `provisioning`.
async fn harness_with(provisioning: &str) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sesame.db").display());
    let data = dir.path().display().to_string();
    let env = move |name: &str| match name {
        "DATABASE_URL" => Some(url.clone()),
        "SESAME_KEY_ENCRYPTION_KEY" => Some(KEK.to_string()),
        "SESAME_DATA_DIR" => Some(data.clone()),
        _ => None,
    };
    let settings = Settings::from_sources(None, &env).unwrap();
    let (kek, _) = Kek::resolve(&settings.key_encryption_key, true).unwrap();
    let db = Db::open(&settings.database).unwrap();
    let import = crate::provisioning::Plan::parse(provisioning, "test").unwrap();
    let recorder = crate::admin::audit::Recorder::new(
        &settings,
        crate::admin::Actor::operator(crate::admin::Via::Import),
    );
    import
        .apply(&mut db.get().unwrap(), &kek, &recorder)
        .unwrap();
    let sms = Arc::new(Capture::default());
    let keys = KeyStore::new(kek, settings.key_cache_ttl);
    let core = Arc::new(Core::new(settings, db, keys, sms.clone()));
    let org = core.organization("acme").await.unwrap();
    Harness {
        core,
        org,
        sms,
        _dir: dir,
    }
}

const PROVISIONING: &str = r#"
[[organizations]]
slug = "acme"

[[organizations.applications]]
client_id = "web"
type = "confidential"
client_secret = "a-client-secret-for-the-engine-tests-0123456"
redirect_uris = ["https://app.acme.example/callback"]
sign_in_flow = [["password"], ["sms_otp", "backup_code"]]
backup_codes = true

[[organizations.users]]
username = "alice"
password = "alices-long-password"
phone_number = "+14155550100"
phone_number_verified = true

[[organizations.users]]
username = "bob"
password = "bobs-long-password"
disabled = true
"#;

const BINDING: &str = "the-browser-binding-cookie-value-for-tests";

impl Harness {
    /// A new sign-in of the web app, bound to [`BINDING`].
    async fn begin(&self) -> String {
        self.begin_at(now()).await
    }

    /// [`Self::begin`] at `t`.
    async fn begin_at(&self, t: i64) -> String {
        let pairs = [
            ("client_id", "web"),
            ("redirect_uri", CB),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let app = {
            let org_id = self.org.org.id;
            self.core
                .db
                .run(move |conn| Application::find(conn, org_id, "web"))
                .await
                .unwrap()
                .unwrap()
        };
        let auth = validate(
            &Params::from_pairs(pairs),
            Some(&app),
            &self.org.org.settings,
        )
        .unwrap_or_else(|_| panic!("the request is valid"));
        let tx = LoginTransaction {
            id: random_token(32).expose().clone(),
            organization_id: self.org.org.id,
            application_id: Some(app.id.clone()),
            request: serde_json::to_string(&auth).unwrap(),
            browser_hash: sha256_hex(BINDING),
            csrf_hash: sha256_hex("csrf"),
            created_at: t,
            expires_at: t + TRANSACTION_LIFETIME,
            completed_at: None,
            user_id: None,
            passed: "[]".into(),
            session_sid: None,
        };
        let id = tx.id.clone();
        self.core
            .db
            .run(move |conn| LoginTransaction::insert(conn, &tx))
            .await
            .unwrap();
        id
    }

    /// Opens the sign-in afresh (as every request does) and runs `command` at `now`.
    async fn run(&self, tx: &str, command: Command, now: i64) -> Outcome {
        self.run_as(tx, command, now, "192.0.2.7", None).await
    }

    /// [`Self::run`] from the client at `ip`, with a device cookie or none.
    async fn run_as(
        &self,
        tx: &str,
        command: Command,
        now: i64,
        ip: &str,
        device: Option<&str>,
    ) -> Outcome {
        let sign_in = SignIn::open(&self.core, &self.org, tx, &sha256_hex(BINDING), now)
            .await
            .unwrap()
            .expect("the sign-in is open");
        let ctx = Ctx {
            client_ip: ip.into(),
            now,
            session_hash: None,
            form: FormToken::NotAForm,
            device: device.map(str::to_string),
            user_agent: None,
        };
        run(&self.core, &sign_in, command, &ctx).await.unwrap()
    }

    async fn password(&self, tx: &str, username: &str, password: &str, now: i64) -> Outcome {
        let command = Command::Password {
            username: username.into(),
            password: Secret::new(password.into()),
        };
        self.run(tx, command, now).await
    }

    /// The code in the newest text message.
    fn last_code(&self) -> String {
        let sent = self.sms.sent();
        let body = &sent.last().expect("a text was sent").body;
        body.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("a six-digit code")
            .to_string()
    }

    /// The types of the organization's outbox events, oldest first.
    async fn events(&self) -> Vec<String> {
        let org_id = self.org.org.id;
        let mut events = self
            .core
            .db
            .run(move |conn| OutboxEvent::list(conn, org_id, 1000))
            .await
            .unwrap();
        events.reverse();
        events.into_iter().map(|e| e.event_type).collect()
    }
}

fn step(outcome: &Outcome) -> &Step {
    match outcome {
        Outcome::Step(step) => step,
        other => panic!("expected a step, got {other:?}"),
    }
}

fn error(outcome: &Outcome) -> Option<StepError> {
    step(outcome).error.clone()
}

#[tokio::test]
async fn password_then_sms_otp_completes_with_mfa() {
    let h = harness().await;
    let tx = h.begin().await;
    let t = now();
    let first = h.run(&tx, Command::Show(StepKind::First), t).await;
    assert_eq!(step(&first).authenticators, vec![Authenticator::Password]);
    assert_eq!(
        error(&h.password(&tx, "alice", "wrong-password", t).await),
        Some(StepError::WrongCredentials)
    );
    let outcome = h.password(&tx, "alice", PASSWORD, t).await;
    assert!(
        matches!(
            outcome,
            Outcome::Advanced {
                kind: StepKind::SmsOtp
            }
        ),
        "{outcome:?}"
    );
    // The first step is closed now: the user cannot change halfway.
    assert!(matches!(
        h.password(&tx, "alice", PASSWORD, t).await,
        Outcome::Refused(Refusal::Expired)
    ));

    let shown = h.run(&tx, Command::Show(StepKind::SmsOtp), t).await;
    let view = step(&shown).sms_otp.clone().unwrap();
    assert_eq!(view.masked_phone.as_deref(), Some("*******0100"));
    assert!(view.sent && view.backup_code && view.numeric);
    assert_eq!(view.resend_wait_seconds, 30);
    assert_eq!(h.sms.sent().len(), 1, "one code sent");
    // Showing the step again sends nothing more.
    h.run(&tx, Command::Show(StepKind::SmsOtp), t).await;
    assert_eq!(h.sms.sent().len(), 1);

    let code = h.last_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let outcome = h
        .run(
            &tx,
            Command::SmsCode {
                code: Secret::new(wrong.into()),
            },
            t,
        )
        .await;
    assert_eq!(
        error(&outcome),
        Some(StepError::CodeWrong { attempts_left: 2 })
    );
    let outcome = h
        .run(
            &tx,
            Command::SmsCode {
                code: Secret::new(code),
            },
            t + 5,
        )
        .await;
    let Outcome::Completed(done) = outcome else {
        panic!("expected completion, got {outcome:?}");
    };
    assert_eq!(done.amr, vec!["pwd", "sms", "otp", "mfa"]);
    assert_eq!(done.acr, crate::authn::flow::ACR_MFA);
    assert_eq!(done.auth_time, t);
    assert_eq!(done.session.user_id, done.user.id);
    let json = serde_json::to_value(&*done).unwrap();
    assert!(json.get("cookie").is_none(), "the cookie never serializes");
    assert!(h.events().await.contains(&"LoginSuccessEvent".to_string()));
    // The transaction is finished: nothing more can run on it.
    assert!(
        SignIn::open(&h.core, &h.org, &tx, &sha256_hex(BINDING), t + 5)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn wrong_codes_count_down_then_void_the_code() {
    let h = harness().await;
    let tx = h.begin().await;
    let t = now();
    h.password(&tx, "alice", PASSWORD, t).await;
    h.run(&tx, Command::Show(StepKind::SmsOtp), t).await;
    let code = h.last_code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in [2, 1, 0] {
        let outcome = h
            .run(
                &tx,
                Command::SmsCode {
                    code: Secret::new(wrong.into()),
                },
                t,
            )
            .await;
        assert_eq!(
            error(&outcome),
            Some(StepError::CodeWrong {
                attempts_left: left
            })
        );
    }
    let outcome = h
        .run(
            &tx,
            Command::SmsCode {
                code: Secret::new(code),
            },
            t,
        )
        .await;
    assert_eq!(
        error(&outcome),
        Some(StepError::CodeVoid),
        "the right code, too late"
    );
}

#[tokio::test]
async fn a_code_expires_with_the_clock() {
    let h = harness().await;
    let tx = h.begin().await;
    let t = now();
    h.password(&tx, "alice", PASSWORD, t).await;
    h.run(&tx, Command::Show(StepKind::SmsOtp), t).await;
    let code = h.last_code();
    let expiry = h.org.org.settings.sms_otp.expiry_seconds;
    let late = Command::SmsCode {
        code: Secret::new(code.clone()),
    };
    let outcome = h.run(&tx, late, t + expiry).await;
    assert_eq!(error(&outcome), Some(StepError::CodeExpired));
    // A second before, it still worked (a new sign-in, the same clock).
    let again = h.begin().await;
    h.password(&again, "alice", PASSWORD, t).await;
    h.run(&again, Command::Show(StepKind::SmsOtp), t).await;
    let code = Command::SmsCode {
        code: Secret::new(h.last_code()),
    };
    let outcome = h.run(&again, code, t + expiry - 1).await;
    assert!(matches!(outcome, Outcome::Completed(_)), "{outcome:?}");
}

#[tokio::test]
async fn the_account_locks_at_the_limit_and_unlocks_lazily() {
    let h = harness().await;
    let tx = h.begin().await;
    let t = now();
    let policy = h.org.org.settings.lock_policy.clone();
    for _ in 0..policy.max_attempts {
        assert_eq!(
            error(&h.password(&tx, "alice", "wrong-password", t).await),
            Some(StepError::WrongCredentials)
        );
    }
    let until = t + policy.duration_seconds;
    // Locked: even the right password is refused, with the lock's end.
    assert!(matches!(
        h.password(&tx, "alice", PASSWORD, t + 1).await,
        Outcome::Refused(Refusal::Locked { until: u }) if u == until
    ));
    let events = h.events().await;
    assert_eq!(
        events.iter().filter(|e| *e == "LoginFailedEvent").count() as i64,
        policy.max_attempts
    );
    assert!(events.contains(&"LockUserEvent".to_string()));
    assert!(!events.contains(&"UnlockUserEvent".to_string()));

    // At the lock's end the next attempt ends it, publishes unlockUser once, and goes on.
    let outcome = h.password(&tx, "alice", PASSWORD, until).await;
    assert!(
        matches!(
            outcome,
            Outcome::Advanced {
                kind: StepKind::SmsOtp
            }
        ),
        "{outcome:?}"
    );
    let unlocks = h.events().await;
    assert_eq!(
        unlocks.iter().filter(|e| *e == "UnlockUserEvent").count(),
        1
    );
}

#[tokio::test]
async fn attempts_during_a_lock_neither_extend_nor_renew_it() {
    let h = harness().await;
    let tx = h.begin().await;
    let t = now();
    let policy = h.org.org.settings.lock_policy.clone();
    for _ in 0..policy.max_attempts {
        h.password(&tx, "alice", "wrong-password", t).await;
    }
    let until = t + policy.duration_seconds;
    // Someone keeps trying during the lock, wrong and right: each is refused with the same end.
    for (i, password) in ["wrong-password", PASSWORD]
        .iter()
        .cycle()
        .take(12)
        .enumerate()
    {
        let outcome = h.password(&tx, "alice", password, t + 1 + i as i64).await;
        assert!(
            matches!(outcome, Outcome::Refused(Refusal::Locked { until: u }) if u == until),
            "{outcome:?}"
        );
    }
    // At its end the account is open: a wrong password is just wrong (not a new, longer lock)…
    assert_eq!(
        error(&h.password(&tx, "alice", "wrong-password", until).await),
        Some(StepError::WrongCredentials)
    );
    // …and the right one goes on.
    let outcome = h.password(&tx, "alice", PASSWORD, until + 1).await;
    assert!(
        matches!(
            outcome,
            Outcome::Advanced {
                kind: StepKind::SmsOtp
            }
        ),
        "{outcome:?}"
    );
}

const SMART: &str = r#"
[[organizations]]
slug = "acme"

[organizations.lock_policy]
max_attempts = 3
smart = true
account_daily_ceiling = 7

[[organizations.applications]]
client_id = "web"
type = "confidential"
client_secret = "a-client-secret-for-the-engine-tests-0123456"
redirect_uris = ["https://app.acme.example/callback"]
sign_in_flow = [["password"], ["sms_otp"]]

[[organizations.users]]
username = "alice"
password = "alices-long-password"
phone_number = "+14155550100"
phone_number_verified = true
"#;

impl Harness {
    /// A whole sign-in of alice from `ip` with `device`: the device cookie it ends with.
    async fn full_sign_in(&self, ip: &str, device: Option<&str>, t: i64) -> String {
        let tx = self.begin_at(t).await;
        let password = Command::Password {
            username: "alice".into(),
            password: Secret::new(PASSWORD.into()),
        };
        let outcome = self.run_as(&tx, password, t, ip, device).await;
        assert!(matches!(outcome, Outcome::Advanced { .. }), "{outcome:?}");
        self.run_as(&tx, Command::Show(StepKind::SmsOtp), t, ip, device)
            .await;
        let code = Command::SmsCode {
            code: Secret::new(self.last_code()),
        };
        match self.run_as(&tx, code, t, ip, device).await {
            Outcome::Completed(done) => done
                .device_cookie
                .expect("smart lockout marks the browser")
                .expose()
                .clone(),
            other => panic!("expected completion, got {other:?}"),
        }
    }

    /// One password attempt of alice on a new sign-in.
    async fn attempt(&self, password: &str, t: i64, ip: &str, device: Option<&str>) -> Outcome {
        let tx = self.begin_at(t).await;
        let command = Command::Password {
            username: "alice".into(),
            password: Secret::new(password.into()),
        };
        self.run_as(&tx, command, t, ip, device).await
    }
}

fn locked(outcome: &Outcome) -> Option<i64> {
    match outcome {
        Outcome::Refused(Refusal::Locked { until }) => Some(*until),
        _ => None,
    }
}

#[tokio::test]
async fn smart_lockout_locks_the_guessing_client_not_the_owner() {
    let h = harness_with(SMART).await;
    let t = now();
    let device = h.full_sign_in("198.51.100.1", None, t).await;
    // A device cookie is bound to its account: made up, or kept for another name, it is nothing.
    assert!(policy::known_device(h.core.keys.kek(), h.org.org.id, "alice", &device).is_some());
    assert!(policy::known_device(h.core.keys.kek(), h.org.org.id, "mallory", &device).is_none());
    let forged = format!("{}x", device);
    assert!(policy::known_device(h.core.keys.kek(), h.org.org.id, "alice", &forged).is_none());

    // A stranger's three wrong guesses lock that stranger out, right password or not…
    for _ in 0..3 {
        let outcome = h.attempt("wrong-password", t, "203.0.113.1", None).await;
        assert_eq!(error(&outcome), Some(StepError::WrongCredentials));
    }
    assert!(locked(&h.attempt(PASSWORD, t, "203.0.113.1", None).await).is_some());
    // …and nobody else: another address and the owner's browser get in.
    let other = h.attempt(PASSWORD, t, "203.0.113.2", None).await;
    assert!(matches!(other, Outcome::Advanced { .. }), "{other:?}");
    let owner = h.attempt(PASSWORD, t, "203.0.113.1", Some(&device)).await;
    assert!(matches!(owner, Outcome::Advanced { .. }), "{owner:?}");
    // An IPv6 guesser is one client across its /64.
    for host in ["1", "2", "3"] {
        let ip = format!("2001:db8:1:2::{host}");
        h.attempt("wrong-password", t, &ip, None).await;
    }
    assert!(locked(&h.attempt(PASSWORD, t, "2001:db8:1:2::ff", None).await).is_some());
    assert!(
        !h.events().await.contains(&"LockUserEvent".to_string()),
        "a client's own lock is not the account's"
    );
}

#[tokio::test]
async fn smart_lockout_bounds_distributed_guessing_by_the_daily_ceiling() {
    let h = harness_with(SMART).await;
    let t0 = now();
    let device = h.full_sign_in("198.51.100.1", None, t0).await;
    let ceiling = h.org.org.settings.lock_policy.account_daily_ceiling;
    // A guesser with an endless supply of addresses, one guess every 20 minutes for two days.
    let (mut wrong_at, mut n) = (Vec::new(), 0u32);
    let mut t = t0;
    while t < t0 + 2 * policy::DAY {
        n += 1;
        let ip = format!("10.{}.{}.{}", n / 65_536 % 256, n / 256 % 256, n % 256);
        let outcome = h.attempt("wrong-password", t, &ip, None).await;
        if matches!(&outcome, Outcome::Step(s) if s.error == Some(StepError::WrongCredentials)) {
            wrong_at.push(t);
        } else {
            assert!(locked(&outcome).is_some(), "{outcome:?}");
            // Meanwhile the owner's browser still gets in, and a new address does not.
            if n % 10 == 0 {
                let owner = h
                    .attempt(PASSWORD, t, "10.255.255.255", Some(&device))
                    .await;
                assert!(matches!(owner, Outcome::Advanced { .. }), "{owner:?}");
                assert!(locked(&h.attempt(PASSWORD, t, "10.255.255.254", None).await).is_some());
            }
        }
        t += 1200;
    }
    // The bound: at most the ceiling in any day.
    for (i, start) in wrong_at.iter().enumerate() {
        let in_day = wrong_at[i..]
            .iter()
            .filter(|w| **w < start + policy::DAY)
            .count() as i64;
        assert!(
            in_day <= ceiling,
            "{in_day} guesses within a day from {start}"
        );
    }
    assert_eq!(wrong_at.len() as i64, 2 * ceiling, "{wrong_at:?}");
    let locks = h
        .events()
        .await
        .iter()
        .filter(|e| *e == "LockUserEvent")
        .count();
    assert_eq!(locks, 2, "the ceiling reached is reported, once a day");
    let unlocks = h
        .events()
        .await
        .iter()
        .filter(|e| *e == "UnlockUserEvent")
        .count();
    assert_eq!(unlocks, 1, "and the end of the first day's lock");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_parallel_burst_gets_no_more_checks_than_the_policy_allows() {
    let h = Arc::new(harness().await);
    let tx = h.begin().await;
    let t = now();
    h.password(&tx, "alice", PASSWORD, t).await;
    let max = h.org.org.settings.lock_policy.max_attempts;
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (h, tx) = (h.clone(), tx.clone());
        let code = format!("WRONG{i:05}");
        burst.spawn(async move {
            h.run(
                &tx,
                Command::BackupCode {
                    code: Secret::new(code),
                },
                t,
            )
            .await
        });
    }
    let outcomes = burst.join_all().await;
    let checked = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Step(_)))
        .count() as i64;
    let locked = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Refused(Refusal::Locked { .. })))
        .count() as i64;
    // The password's attempt was forgiven: every one of the policy's attempts is left for the
    // burst, and no more.
    assert!(
        checked <= max,
        "{checked} codes were checked, the limit is {max}"
    );
    assert_eq!(checked + locked, 20, "{outcomes:?}");
    assert!(locked >= 20 - max);
}

#[tokio::test]
async fn resends_wait_for_the_cooldown_and_are_blocked_past_the_limit() {
    let h = harness().await;
    let tx = h.begin().await;
    let mut t = now();
    let first = t;
    h.password(&tx, "alice", PASSWORD, t).await;
    h.run(&tx, Command::Show(StepKind::SmsOtp), t).await;
    let settings = h.org.org.settings.sms_otp.clone();
    let outcome = h.run(&tx, Command::Resend, t + 1).await;
    assert_eq!(
        error(&outcome),
        Some(StepError::ResendWait {
            seconds: settings.resend_cooldown_seconds - 1
        })
    );
    assert_eq!(h.sms.sent().len(), 1);
    // `resend_attempts` resends are sent, each voiding the code before it.
    for n in 0..settings.resend_attempts {
        t += settings.resend_cooldown_seconds;
        let before = h.last_code();
        let outcome = h.run(&tx, Command::Resend, t).await;
        assert_eq!(
            step(&outcome).notice,
            Some(Notice::NewCodeSent),
            "resend {n}"
        );
        assert_eq!(h.sms.sent().len() as i64, n + 2);
        // The code before it no longer works (unless the new one happens to be the same). Once:
        // each wrong code counts toward the account's lock.
        if n == 0 && before != h.last_code() {
            let old = h
                .run(
                    &tx,
                    Command::SmsCode {
                        code: Secret::new(before),
                    },
                    t,
                )
                .await;
            assert_eq!(error(&old), Some(StepError::CodeWrong { attempts_left: 2 }));
        }
    }
    t += settings.resend_cooldown_seconds;
    let outcome = h.run(&tx, Command::Resend, t).await;
    // Blocked until the first code leaves the hour (a sliding window, not a fixed block).
    assert_eq!(
        error(&outcome),
        Some(StepError::ResendBlocked {
            until: first + 3600
        })
    );
    assert_eq!(
        h.sms.sent().len() as i64,
        settings.resend_attempts + 1,
        "nothing sent while blocked"
    );
}

#[tokio::test]
async fn a_backup_code_works_once() {
    let h = harness().await;
    let org_id = h.org.org.id;
    let alice = h
        .core
        .db
        .run(move |conn| User::find_by_username(conn, org_id, &Username::parse("alice").unwrap()))
        .await
        .unwrap()
        .unwrap();
    let set = backup::new_set(
        h.core.keys.kek(),
        &h.org.org.settings.backup_codes,
        &alice.id,
    )
    .unwrap();
    let (id, hashes) = (alice.id.clone(), set.hashes.clone());
    h.core
        .db
        .run(move |conn| backup_codes::replace(conn, &id, &hashes))
        .await
        .unwrap();
    let code = set.codes[0].expose().clone();
    let t = now();

    let tx = h.begin().await;
    h.password(&tx, "alice", PASSWORD, t).await;
    let shown = h.run(&tx, Command::Show(StepKind::BackupCode), t).await;
    assert_eq!(step(&shown).kind, StepKind::BackupCode);
    assert!(h.sms.sent().is_empty(), "the fallback sends no text");
    let outcome = h
        .run(
            &tx,
            Command::BackupCode {
                code: Secret::new(code.clone()),
            },
            t,
        )
        .await;
    let Outcome::Completed(done) = outcome else {
        panic!("expected completion, got {outcome:?}");
    };
    assert_eq!(done.amr, vec!["pwd", "otp", "mfa"]);

    let again = h.begin().await;
    h.password(&again, "alice", PASSWORD, t).await;
    let outcome = h
        .run(
            &again,
            Command::BackupCode {
                code: Secret::new(code),
            },
            t,
        )
        .await;
    assert_eq!(error(&outcome), Some(StepError::BackupCodeWrong));
}

#[tokio::test]
async fn a_password_replaced_while_its_hash_ran_no_longer_counts() {
    let h = harness().await;
    let org_id = h.org.org.id;
    let argon2 = crate::password::hash(&crate::secret::Secret::new(
        "another passphrase entirely".to_string(),
    ));
    let checked = h
        .core
        .db
        .run(move |conn| {
            let name = Username::parse("alice").unwrap();
            let mut alice = User::find_by_username(conn, org_id, &name)?.unwrap();
            let mut seen = vec![first::still_current(conn, org_id, &alice)?];
            // An imported hash that a concurrent sign-in replaced by argon2id: the same password.
            let imported = "$2y$04$abcdefghijklmnopqrstuu7EJV7kdjBBQxyb0HjTh9KS7.Lah/6CG";
            User::set_password_hash(conn, &alice.id, imported)?;
            alice.password_hash = Some(imported.to_string());
            User::replace_imported_hash(conn, &alice.id, imported, &argon2)?;
            seen.push(first::still_current(conn, org_id, &alice)?);
            // A password set another way (a reset, a change, an administrator).
            User::set_password_hash(conn, &alice.id, &argon2)?;
            seen.push(first::still_current(conn, org_id, &alice)?);
            // The account disabled since.
            alice.password_hash = Some(argon2);
            let mut disabled = alice.clone();
            disabled.disabled = true;
            User::update(conn, &disabled)?;
            seen.push(first::still_current(conn, org_id, &alice)?);
            // Disabled before: answered as such elsewhere, not as a change.
            seen.push(first::still_current(conn, org_id, &disabled)?);
            Ok(seen)
        })
        .await
        .unwrap();
    assert_eq!(checked, vec![true, true, false, false, true]);
}

#[tokio::test]
async fn disabled_accounts_and_other_accounts_are_refused() {
    let h = harness().await;
    let t = now();
    let tx = h.begin().await;
    assert!(matches!(
        h.password(&tx, "bob", "bobs-long-password", t).await,
        Outcome::Refused(Refusal::Disabled)
    ));

    // A sign-in that began for alice (a step-up, an account check) stays hers.
    let org_id = h.org.org.id;
    let users = h
        .core
        .db
        .run(move |conn| {
            Ok((
                User::find_by_username(conn, org_id, &Username::parse("alice").unwrap())?,
                User::find_by_username(conn, org_id, &Username::parse("bob").unwrap())?,
            ))
        })
        .await
        .unwrap();
    let (alice, mut bob) = (users.0.unwrap(), users.1.unwrap());
    bob.disabled = false;
    let tx = h.begin().await;
    let (id, alice_id) = (tx.clone(), alice.id.clone());
    h.core
        .db
        .run(move |conn| LoginTransaction::record_progress(conn, &id, &alice_id, "[]", None))
        .await
        .unwrap();
    let command = Command::FirstStepPassed {
        user: Box::new(bob),
        method: Authenticator::Password,
        at: t,
    };
    assert!(matches!(
        h.run(&tx, command, t).await,
        Outcome::Refused(Refusal::AnotherAccount)
    ));
}

#[test]
fn outcomes_serialize_with_stable_codes() {
    let refused = Outcome::Refused(Refusal::Locked { until: 5 });
    assert_eq!(
        serde_json::to_value(&refused).unwrap(),
        serde_json::json!({"outcome": "refused", "code": "locked", "until": 5})
    );
    let wrong = StepError::CodeWrong { attempts_left: 1 };
    assert_eq!(
        serde_json::to_value(&wrong).unwrap(),
        serde_json::json!({"code": "code_wrong", "attempts_left": 1})
    );
    assert_eq!(wrong.message(), "That code is not right. 1 attempt left.");
    let refused = StepError::NumberRefused {
        reason: crate::authn::sms_limits::NumberRefusal::PremiumRate,
    };
    assert_eq!(
        serde_json::to_value(&refused).unwrap(),
        serde_json::json!({"code": "number_refused", "reason": "premium_rate"})
    );
    assert_eq!(
        serde_json::to_value(StepError::SmsPaused { until: 9 }).unwrap(),
        serde_json::json!({"code": "sms_paused", "until": 9})
    );
}

/// Sends of one sign-in step after another for two hours, as fast as the cooldown allows, each
/// sign-in renewed before it expires: never more than `resend_attempts + 1` codes in any hour
/// (the old fixed window let about 66 through an hour, restarting the count after each block).
#[tokio::test]
async fn sends_are_limited_over_a_sliding_hour_that_no_block_restarts() {
    let h = harness().await;
    let settings = h.org.org.settings.sms_otp.clone();
    let limit = settings.resend_attempts + 1;
    let t0 = now();
    let (mut tx, mut opened, mut sent_at) = (String::new(), None, Vec::new());
    let mut t = t0;
    while t < t0 + 2 * 3600 {
        let before = h.sms.sent().len();
        if opened.is_none_or(|o| t - o > TRANSACTION_LIFETIME - 60) {
            tx = h.begin_at(t).await;
            opened = Some(t);
            h.password(&tx, "alice", PASSWORD, t).await;
            h.run(&tx, Command::Show(StepKind::SmsOtp), t).await;
        } else {
            h.run(&tx, Command::Resend, t).await;
        }
        if h.sms.sent().len() > before {
            sent_at.push(t);
        }
        t += settings.resend_cooldown_seconds;
    }
    for s in &sent_at {
        let in_hour = sent_at
            .iter()
            .filter(|x| (*s..s + 3600).contains(*x))
            .count() as i64;
        assert!(
            in_hour <= limit,
            "{in_hour} codes in the hour from {s}: {sent_at:?}"
        );
    }
    assert_eq!(sent_at.len() as i64, 2 * limit, "{sent_at:?}");
}

/// Thirty sign-ins of one user load their OTP pages at the same moment: the limit is checked
/// and counted in the transaction that stores each code, so no more than the limit are sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_first_codes_sends_no_more_than_the_limit() {
    let h = Arc::new(harness().await);
    let t = now();
    let mut txs = Vec::new();
    for _ in 0..30 {
        let tx = h.begin_at(t).await;
        h.password(&tx, "alice", PASSWORD, t).await;
        txs.push(tx);
    }
    let mut burst = tokio::task::JoinSet::new();
    for tx in txs {
        let h = h.clone();
        burst.spawn(async move { h.run(&tx, Command::Show(StepKind::SmsOtp), t).await });
    }
    let outcomes = burst.join_all().await;
    let limit = h.org.org.settings.sms_otp.resend_attempts + 1;
    assert_eq!(h.sms.sent().len() as i64, limit);
    let blocked = outcomes
        .iter()
        .filter(|o| matches!(error(o), Some(StepError::ResendBlocked { .. })))
        .count() as i64;
    assert_eq!(blocked, 30 - limit);
}

/// Six users with numbers of their own, limits small enough to reach.
const LIMITS: &str = r#"
[[organizations]]
slug = "acme"

[organizations.sms_otp]
allowed_countries = ["US", "+44"]

[organizations.sms_otp.limits]
ip_per_hour = 2
organization_per_hour = 4
country_alert_per_hour = 3

[[organizations.applications]]
client_id = "web"
type = "confidential"
client_secret = "a-client-secret-for-the-engine-tests-0123456"
redirect_uris = ["https://app.acme.example/callback"]
sign_in_flow = [["password"], ["sms_otp", "backup_code"]]
backup_codes = true

[[organizations.users]]
username = "u1"
password = "alices-long-password"
phone_number = "+14155550101"
phone_number_verified = true

[[organizations.users]]
username = "u2"
password = "alices-long-password"
phone_number = "+14155550102"
phone_number_verified = true

[[organizations.users]]
username = "u3"
password = "alices-long-password"
phone_number = "+14155550103"
phone_number_verified = true

[[organizations.users]]
username = "u4"
password = "alices-long-password"
phone_number = "+14155550104"
phone_number_verified = true

[[organizations.users]]
username = "u5"
password = "alices-long-password"
phone_number = "+14155550105"
phone_number_verified = true

[[organizations.users]]
username = "u6"
password = "alices-long-password"
phone_number = "+33612345678"
phone_number_verified = true
"#;

impl Harness {
    /// `user`'s first code from `ip` at `t`: the OTP step's outcome.
    async fn first_code_of(&self, user: &str, ip: &str, t: i64) -> Outcome {
        let tx = self.begin_at(t).await;
        let command = Command::Password {
            username: user.into(),
            password: Secret::new(PASSWORD.into()),
        };
        self.run_as(&tx, command, t, ip, None).await;
        self.run_as(&tx, Command::Show(StepKind::SmsOtp), t, ip, None)
            .await
    }
}

/// Per client address, per organization (the budget and its breaker, which alerts once per
/// trip), a per-country alert, and the allow-list, with the clock moved instead of waiting.
#[tokio::test]
async fn clients_the_organization_budget_and_countries_are_limited() {
    let h = harness_with(LIMITS).await;
    let t = now();
    // Two codes from one address, then that address waits; another is served.
    assert_eq!(error(&h.first_code_of("u1", "198.51.100.1", t).await), None);
    assert_eq!(error(&h.first_code_of("u2", "198.51.100.1", t).await), None);
    assert_eq!(
        error(&h.first_code_of("u3", "198.51.100.1", t).await),
        Some(StepError::ResendBlocked { until: t + 3600 })
    );
    assert_eq!(error(&h.first_code_of("u3", "2001:db8::1", t).await), None);
    // A number outside the allow-list gets nothing, and counts nothing.
    let refused = h.first_code_of("u6", "2001:db8::2", t).await;
    assert_eq!(
        error(&refused),
        Some(StepError::NumberRefused {
            reason: crate::authn::sms_limits::NumberRefusal::Country
        })
    );
    // An IPv6 client is its /64: 2001:db8::1 and ::2 are one.
    assert_eq!(error(&h.first_code_of("u4", "2001:db8::2", t).await), None);
    assert_eq!(h.sms.sent().len(), 4);
    // The budget is spent: the breaker trips, the step points to backup codes, one alert.
    let paused = h.first_code_of("u5", "203.0.113.9", t + 10).await;
    assert_eq!(
        error(&paused),
        Some(StepError::SmsPaused { until: t + 3600 })
    );
    assert!(step(&paused).sms_otp.as_ref().unwrap().backup_code);
    let again = h.first_code_of("u5", "203.0.113.9", t + 20).await;
    assert_eq!(
        error(&again),
        Some(StepError::SmsPaused { until: t + 3600 })
    );
    assert_eq!(h.sms.sent().len(), 4);
    let events = h.events().await;
    let count = |name: &str| events.iter().filter(|e| *e == name).count();
    assert_eq!(count("SmsBudgetBreakerTrippedEvent"), 1, "{events:?}");
    assert_eq!(count("SmsCountryVelocityEvent"), 1, "{events:?}");
    // An hour after the first codes the window has room again.
    assert_eq!(
        error(&h.first_code_of("u5", "203.0.113.9", t + 3600).await),
        None
    );
}
