//! One sign-in through the balancer: `POST {issuer}/authorize` with `response_mode=direct`, the
//! password, the SMS code (read from the provider on loopback), the code exchange at `/token`,
//! then the ID token's signature and claims and UserInfo.
//!
//! What a request cut by the kill looks like to this client, and what it does about it:
//! - the balancer retries a request whose connection failed or was closed without an answer, on
//!   the other node (`retry-on conn-failure empty-response`, `option redispatch`), so the client
//!   usually sees nothing but a slower answer;
//! - when the dead node had already run the step (it spends the flow id before running it, and a
//!   code at `/token` is spent once), the replay is refused: `expired` (400) at `/authn`,
//!   `invalid_grant` (400) at `/token`. The sign-in then starts again from `/authorize`
//!   (counted as a restart) — allowed only for a step that was in flight when the node was
//!   killed; the same answer at any other time is a failure;
//! - a `502`/`503`/`504` from the balancer or a cut connection is re-sent by the client with the
//!   same flow id (counted as a client retry), a few times.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::run::Run;

pub const CLIENT_ID: &str = "two-nodes-native";
pub const REDIRECT_URI: &str = "io.sesame.twonodes:/callback";
pub const AMR: [&str; 4] = ["pwd", "sms", "otp", "mfa"];
/// How often one sign-in may start again after losing a step with the killed node.
const MAX_RESTARTS: u32 = 3;
/// How often a request answered 502/503/504 or cut is re-sent.
const MAX_RESENDS: u32 = 5;
/// How long to wait for a text message before asking for a new code.
pub const SMS_WAIT_SECONDS: u64 = 15;
const SMS_WAIT: Duration = Duration::from_secs(SMS_WAIT_SECONDS);

/// A user of the provisioning file.
#[derive(Debug, Clone)]
pub struct User {
    pub username: String,
    pub phone: String,
}

impl User {
    pub fn nth(i: usize) -> Self {
        Self {
            username: format!("user-{i:05}"),
            phone: format!("+155502{i:05}"),
        }
    }
}

/// Why an attempt stopped: start the sign-in again, or give up.
#[derive(Debug)]
pub enum Stop {
    /// A step the killed node may have run was refused as a replay.
    Restart(String),
    Fail(String),
}

/// A signed-in user's subject.
#[derive(Debug)]
pub struct Done {
    pub sub: String,
    pub restarts: u32,
}

/// One answer: status, body, which node answered and whether the kill overlapped the request.
struct Answer {
    status: u16,
    body: Value,
    at_kill: bool,
}

/// A request to send (and re-send).
enum Req<'a> {
    Form(&'a str, &'a [(&'a str, &'a str)]),
    Json(&'a str, &'a Value),
    Get(&'a str, &'a str),
}

impl Run {
    /// Sends a request; re-sends it on a balancer error or a cut connection. `at_kill` says
    /// whether any attempt was in flight when the node was killed.
    async fn send(&self, signin: usize, req: Req<'_>) -> Result<Answer, Stop> {
        let mut at_kill = false;
        for attempt in 0..=MAX_RESENDS {
            if attempt > 0 {
                self.figures.client_retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            let builder = match &req {
                Req::Form(url, form) => self.client.post(*url).form(form),
                Req::Json(url, body) => self.client.post(*url).json(body),
                Req::Get(url, token) => self.client.get(*url).bearer_auth(token),
            };
            self.outstanding(signin, 1);
            let sent = Instant::now();
            let result = builder.send().await;
            self.outstanding(signin, -1);
            at_kill |= self.killed_between(sent, Instant::now());
            let res = match result {
                Ok(res) => res,
                Err(e) => {
                    self.note(format!("sign-in {signin}: request cut ({e}), re-sending"));
                    continue;
                }
            };
            let status = res.status().as_u16();
            let node = res
                .headers()
                .get("x-served-by")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?")
                .to_string();
            if matches!(status, 502..=504) {
                self.note(format!(
                    "sign-in {signin}: {status} from the balancer, re-sending"
                ));
                continue;
            }
            self.answered(signin, &node);
            let body = match res.bytes().await {
                Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
                Err(e) => {
                    self.note(format!("sign-in {signin}: answer cut ({e}), re-sending"));
                    continue;
                }
            };
            return Ok(Answer {
                status,
                body,
                at_kill,
            });
        }
        Err(Stop::Fail(format!(
            "no answer after {MAX_RESENDS} re-sends"
        )))
    }

    /// Signs user `i` in, starting again when a step was lost with the killed node.
    pub async fn sign_in(self: Arc<Self>, i: usize) -> Result<Done, String> {
        let user = User::nth(i);
        let mut restarts = 0;
        loop {
            match self.attempt(i, &user).await {
                Ok(sub) => return Ok(Done { sub, restarts }),
                Err(Stop::Restart(why)) if restarts < MAX_RESTARTS => {
                    restarts += 1;
                    self.figures.restarts.fetch_add(1, Ordering::Relaxed);
                    self.note(format!("sign-in {i}: starts again: {why}"));
                }
                Err(Stop::Restart(why)) => return Err(format!("too many restarts: {why}")),
                Err(Stop::Fail(why)) => return Err(why),
            }
        }
    }

    /// One pass through the chain.
    async fn attempt(&self, i: usize, user: &User) -> Result<String, Stop> {
        let issuer = &self.issuer;
        let authn = format!("{issuer}/authn");
        let verifier = crate::random_token();
        let challenge = B64URL.encode(Sha256::digest(verifier.as_bytes()));
        let nonce = crate::random_token();
        let state = format!("s{i}");
        let url = format!("{issuer}/authorize");
        let form = [
            ("client_id", CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid profile phone"),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("response_mode", "direct"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let first = self.send(i, Req::Form(&url, &form)).await?;
        let mut flow = expect_step(&first, "first", "authorize")?;

        // The password; the answer comes after the first code was sent.
        let mut mark = self.inbox.mark(&user.phone);
        let body = step(
            &flow,
            "password",
            json!({ "username": user.username, "password": crate::PASSWORD }),
        );
        let otp = self.send(i, Req::Json(&authn, &body)).await?;
        flow = expect_step(&otp, "sms_otp", "password")?;

        // The code: the newest text since the step; a new one asked for when none comes, or when
        // the one tried was not the live one (a late delivery of an earlier sign-in's code).
        let mut tries = 0;
        let done = loop {
            tries += 1;
            if tries > 6 {
                return Err(Stop::Fail("no working code after 6 tries".into()));
            }
            let Some(code) = self.inbox.code_after(&user.phone, mark, SMS_WAIT).await else {
                self.figures.resends.fetch_add(1, Ordering::Relaxed);
                self.note(format!(
                    "sign-in {i}: no text message, asking for a new code"
                ));
                mark = self.inbox.mark(&user.phone);
                let body = step(&flow, "sms_otp", json!({ "action": "resend" }));
                let again = self.send(i, Req::Json(&authn, &body)).await?;
                flow = expect_step(&again, "sms_otp", "resend")?;
                continue;
            };
            mark = self.inbox.mark(&user.phone);
            let body = step(&flow, "sms_otp", json!({ "otp": code }));
            let answer = self.send(i, Req::Json(&authn, &body)).await?;
            if answer.body["flowStatus"] == "SUCCESS_COMPLETED" {
                break answer;
            }
            flow = expect_step(&answer, "sms_otp", "sms code")?;
            let error = answer.body["nextStep"]["error"]["code"].clone();
            self.note(format!(
                "sign-in {i}: code refused ({error}), waiting for another"
            ));
        };
        let amr: Vec<&str> = done.body["amr"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if amr != AMR || done.body["authData"]["state"] != state.as_str() {
            return Err(Stop::Fail(format!(
                "unexpected end of the chain: {}",
                done.body
            )));
        }
        let code = done.body["authData"]["code"].as_str().unwrap_or_default();

        // The code exchange.
        let url = format!("{issuer}/token");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", CLIENT_ID),
            ("code_verifier", verifier.as_str()),
        ];
        let tokens = self.send(i, Req::Form(&url, &form)).await?;
        if tokens.status != 200 {
            let error = tokens.body["error"].as_str().unwrap_or("?");
            let why = format!("token endpoint: {} {}", tokens.status, tokens.body);
            return Err(if error == "invalid_grant" && tokens.at_kill {
                Stop::Restart(why)
            } else {
                Stop::Fail(why)
            });
        }
        let id_token = tokens.body["id_token"].as_str().unwrap_or_default();
        let claims = self.keys.verify(id_token).await.map_err(Stop::Fail)?;
        let amr: Vec<&str> = claims["amr"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let sub = claims["sub"].as_str().unwrap_or_default().to_string();
        if claims["iss"] != issuer.as_str()
            || claims["aud"] != CLIENT_ID
            || claims["nonce"] != nonce.as_str()
            || amr != AMR
            || sub.is_empty()
        {
            return Err(Stop::Fail(format!("unexpected ID token claims: {claims}")));
        }

        // The subject is this user's: UserInfo (with the access token) names the same user.
        let access = tokens.body["access_token"].as_str().unwrap_or_default();
        let url = format!("{issuer}/userinfo");
        let info = self.send(i, Req::Get(&url, access)).await?;
        if info.status != 200
            || info.body["sub"] != sub.as_str()
            || info.body["preferred_username"] != user.username.as_str()
            || info.body["phone_number"] != user.phone.as_str()
        {
            return Err(Stop::Fail(format!(
                "UserInfo {} does not match the ID token's sub {sub}: {}",
                info.status, info.body
            )));
        }
        Ok(sub)
    }
}

/// The body of a step at `{issuer}/authn`.
fn step(flow: &str, authenticator: &str, params: Value) -> Value {
    json!({
        "flowId": flow,
        "selectedAuthenticator": { "authenticatorId": authenticator, "params": params },
    })
}

/// The new flow id of an answer showing step `kind`; a replayed (spent) flow id is a restart
/// when the request overlapped the kill, a failure otherwise.
fn expect_step(answer: &Answer, kind: &str, what: &str) -> Result<String, Stop> {
    let body = &answer.body;
    if answer.status == 200
        && body["nextStep"]["kind"] == kind
        && let Some(flow) = body["flowId"].as_str()
    {
        return Ok(flow.to_string());
    }
    let why = format!("{what}: {} {body}", answer.status);
    if answer.status == 400 && body["code"] == "expired" && answer.at_kill {
        return Err(Stop::Restart(why));
    }
    Err(Stop::Fail(why))
}
