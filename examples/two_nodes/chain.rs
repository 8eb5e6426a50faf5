//! One sign-in through the balancer, each step going to whichever node the balancer picks: the
//! app-native JSON API (`POST {issuer}/authorize` with `response_mode=direct`, then `/authn`
//! steps) or the browser pages (`/authorize`, `/login`, `/otp` with cookies and forms), the
//! password, the SMS code (read from the provider on loopback), the code exchange at `/token`,
//! then the ID token's signature and claims and UserInfo.
//!
//! What a request cut by the kill looks like to this client, and what it does about it:
//! - the balancer retries a request whose connection failed or was closed without an answer, on
//!   the other node (`retry-on conn-failure empty-response`, `option redispatch`), so the client
//!   usually sees nothing but a slower answer;
//! - when the dead node had already run the step (it spends the flow id before running it, a
//!   form's token is checked against the sign-in's current step, and a code at `/token` is spent
//!   once), the replay is refused: `expired` (400) at `/authn`, an error page for a form,
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
/// The browser sign-ins' application (public, PKCE); nothing listens at its redirect URI.
pub const WEB_CLIENT_ID: &str = "two-nodes-web";
pub const WEB_REDIRECT_URI: &str = "http://127.0.0.1:9/callback";
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
            phone: format!("+141550{i:05}"),
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

/// One answer: status, body (JSON when it is), where it redirects, and whether the kill
/// overlapped the request.
struct Answer {
    status: u16,
    body: Value,
    text: String,
    location: Option<String>,
    at_kill: bool,
}

/// A request to send (and re-send).
enum Req<'a> {
    Form(&'a str, &'a [(&'a str, &'a str)]),
    Json(&'a str, &'a Value),
    Bearer(&'a str, &'a str),
    Page(&'a str),
}

impl Run {
    /// Sends a request with the shared client (the app-native sign-ins).
    async fn send(&self, signin: usize, req: Req<'_>) -> Result<Answer, Stop> {
        self.send_with(&self.client, signin, req).await
    }

    /// Sends a request; re-sends it on a balancer error or a cut connection. `at_kill` says
    /// whether any attempt was in flight when the node was killed.
    async fn send_with(
        &self,
        client: &reqwest::Client,
        signin: usize,
        req: Req<'_>,
    ) -> Result<Answer, Stop> {
        let mut at_kill = false;
        for attempt in 0..=MAX_RESENDS {
            if attempt > 0 {
                self.figures.client_retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            let builder = match &req {
                Req::Form(url, form) => client.post(*url).form(form),
                Req::Json(url, body) => client.post(*url).json(body),
                Req::Bearer(url, token) => client.get(*url).bearer_auth(token),
                Req::Page(url) => client.get(*url),
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
            let header = |name: &str| {
                res.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let node = header("x-served-by").unwrap_or_else(|| "?".into());
            let location = header("location");
            if matches!(status, 502..=504) {
                self.note(format!(
                    "sign-in {signin}: {status} from the balancer, re-sending"
                ));
                continue;
            }
            self.answered(signin, &node);
            let text = match res.text().await {
                Ok(text) => text,
                Err(e) => {
                    self.note(format!("sign-in {signin}: answer cut ({e}), re-sending"));
                    continue;
                }
            };
            return Ok(Answer {
                status,
                body: serde_json::from_str(&text).unwrap_or(Value::Null),
                text,
                location,
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

    /// One pass through the chain: every fourth user signs in through the browser pages, the
    /// others through the app-native JSON API.
    async fn attempt(&self, i: usize, user: &User) -> Result<String, Stop> {
        let pkce = Pkce::new(i);
        let (client_id, code) = if i % 4 == 3 {
            (WEB_CLIENT_ID, self.browser_steps(i, user, &pkce).await?)
        } else {
            (CLIENT_ID, self.native_steps(i, user, &pkce).await?)
        };
        self.exchange(i, user, &pkce, client_id, &code).await
    }

    /// The app-native steps; returns the authorization code.
    async fn native_steps(&self, i: usize, user: &User, pkce: &Pkce) -> Result<String, Stop> {
        let issuer = &self.issuer;
        let authn = format!("{issuer}/authn");
        let url = format!("{issuer}/authorize");
        let mut form = pkce.request(CLIENT_ID, REDIRECT_URI);
        form.push(("response_mode", "direct"));
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
        if amr != AMR || done.body["authData"]["state"] != pkce.state.as_str() {
            return Err(Stop::Fail(format!(
                "unexpected end of the chain: {}",
                done.body
            )));
        }
        Ok(done.body["authData"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// The browser's steps (cookies, pages, forms with their CSRF tokens), through the same
    /// balancer with no stickiness; returns the authorization code.
    async fn browser_steps(&self, i: usize, user: &User, pkce: &Pkce) -> Result<String, Stop> {
        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Stop::Fail(e.to_string()))?;
        let form = pkce.request(WEB_CLIENT_ID, WEB_REDIRECT_URI);
        let query = serde_urlencoded::to_string(&form).expect("a query");
        let url = format!("{}/authorize?{query}", self.issuer);
        let to_login = self.send_with(&browser, i, Req::Page(&url)).await?;
        let login = expect_redirect(&to_login, "/login?tx=", "authorize")?;
        let page = self.send_with(&browser, i, Req::Page(&login)).await?;
        let fields = expect_form(&page, "login page")?;
        let action = login.split('?').next().unwrap_or_default();
        let mut form = fields.as_form();
        form.extend([
            ("username", user.username.as_str()),
            ("password", crate::PASSWORD),
        ]);
        let to_otp = self
            .send_with(&browser, i, Req::Form(action, &form))
            .await?;
        let otp = expect_redirect(&to_otp, "/otp?tx=", "password")?;
        let action = otp.split('?').next().unwrap_or_default();

        // The first visit of the code page sends the code.
        let mut mark = self.inbox.mark(&user.phone);
        let mut page = self.send_with(&browser, i, Req::Page(&otp)).await?;
        let mut tries = 0;
        loop {
            tries += 1;
            if tries > 6 {
                return Err(Stop::Fail("no working code after 6 tries".into()));
            }
            let fields = expect_form(&page, "code page")?;
            let mut form = fields.as_form();
            let Some(code) = self.inbox.code_after(&user.phone, mark, SMS_WAIT).await else {
                self.figures.resends.fetch_add(1, Ordering::Relaxed);
                self.note(format!(
                    "sign-in {i}: no text message, asking for a new code"
                ));
                mark = self.inbox.mark(&user.phone);
                form.push(("action", "resend"));
                let answer = self
                    .send_with(&browser, i, Req::Form(action, &form))
                    .await?;
                page = self.follow(&browser, i, answer, &otp).await?;
                continue;
            };
            mark = self.inbox.mark(&user.phone);
            form.extend([("code", code.as_str()), ("action", "verify")]);
            let answer = self
                .send_with(&browser, i, Req::Form(action, &form))
                .await?;
            if answer.status == 303
                && let Some(to) = &answer.location
                && to.starts_with(WEB_REDIRECT_URI)
            {
                return code_in_redirect(to, &pkce.state);
            }
            self.note(format!(
                "sign-in {i}: code refused ({}), waiting for another",
                answer.status
            ));
            page = self.follow(&browser, i, answer, &otp).await?;
        }
    }

    /// The code page after a form was answered: shown at once, or behind a redirect.
    async fn follow(
        &self,
        browser: &reqwest::Client,
        i: usize,
        answer: Answer,
        otp: &str,
    ) -> Result<Answer, Stop> {
        match answer.status {
            200 => Ok(answer),
            303 if answer
                .location
                .as_deref()
                .is_some_and(|l| l.contains("/otp?tx=")) =>
            {
                self.send_with(browser, i, Req::Page(otp)).await
            }
            _ => Err(refused(&answer, "code page")),
        }
    }

    /// Exchanges the code, checks the ID token (signature, claims) and that UserInfo names the
    /// same user; returns the subject.
    async fn exchange(
        &self,
        i: usize,
        user: &User,
        pkce: &Pkce,
        client_id: &str,
        code: &str,
    ) -> Result<String, Stop> {
        let issuer = &self.issuer;
        let url = format!("{issuer}/token");
        let redirect_uri = if client_id == WEB_CLIENT_ID {
            WEB_REDIRECT_URI
        } else {
            REDIRECT_URI
        };
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("client_id", client_id),
            ("code_verifier", pkce.verifier.as_str()),
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
            || claims["aud"] != client_id
            || claims["nonce"] != pkce.nonce.as_str()
            || amr != AMR
            || sub.is_empty()
        {
            return Err(Stop::Fail(format!("unexpected ID token claims: {claims}")));
        }

        // The subject is this user's: UserInfo (with the access token) names the same user.
        let access = tokens.body["access_token"].as_str().unwrap_or_default();
        let url = format!("{issuer}/userinfo");
        let info = self.send(i, Req::Bearer(&url, access)).await?;
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

/// One attempt's PKCE verifier, nonce and state.
struct Pkce {
    verifier: String,
    challenge: String,
    nonce: String,
    state: String,
}

impl Pkce {
    fn new(i: usize) -> Self {
        let verifier = crate::random_token();
        Self {
            challenge: B64URL.encode(Sha256::digest(verifier.as_bytes())),
            verifier,
            nonce: crate::random_token(),
            state: format!("s{i}-{}", &crate::random_token()[..8]),
        }
    }

    /// The authorization request's parameters.
    fn request<'a>(&'a self, client_id: &'a str, redirect_uri: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", "openid profile phone"),
            ("state", self.state.as_str()),
            ("nonce", self.nonce.as_str()),
            ("code_challenge", self.challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]
    }
}

/// The hidden fields of a sign-in page's form.
struct Fields {
    tx: String,
    csrf: String,
}

impl Fields {
    fn as_form(&self) -> Vec<(&str, &str)> {
        vec![("tx", self.tx.as_str()), ("csrf", self.csrf.as_str())]
    }
}

/// The value of the first `name="{name}" value="…"` in a page.
fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].replace("&amp;", "&"))
}

/// A refusal, or something unexpected: a restart when the request overlapped the kill.
fn refused(answer: &Answer, what: &str) -> Stop {
    // A page by its title, anything else by its first characters, on one line.
    let title = answer
        .text
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(title, _)| format!("page \"{title}\""));
    let shown = title.unwrap_or_else(|| {
        answer
            .text
            .chars()
            .take(300)
            .collect::<String>()
            .replace('\n', " ")
    });
    let why = format!("{what}: {} {shown}", answer.status);
    if answer.at_kill && (400..500).contains(&answer.status) {
        Stop::Restart(why)
    } else {
        Stop::Fail(why)
    }
}

/// A page with a sign-in form.
fn expect_form(answer: &Answer, what: &str) -> Result<Fields, Stop> {
    if answer.status == 200
        && let (Some(tx), Some(csrf)) = (field(&answer.text, "tx"), field(&answer.text, "csrf"))
    {
        return Ok(Fields { tx, csrf });
    }
    Err(refused(answer, what))
}

/// A redirect to a URL containing `to`.
fn expect_redirect(answer: &Answer, to: &str, what: &str) -> Result<String, Stop> {
    match &answer.location {
        Some(location) if answer.status == 303 && location.contains(to) => Ok(location.clone()),
        _ => Err(refused(answer, what)),
    }
}

/// The code of a redirect back to the web app, after checking its state.
fn code_in_redirect(to: &str, state: &str) -> Result<String, Stop> {
    let url = url::Url::parse(to).map_err(|e| Stop::Fail(format!("{to}: {e}")))?;
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    match (get("code"), get("state")) {
        (Some(code), Some(s)) if s == state => Ok(code),
        _ => Err(Stop::Fail(format!("unexpected redirect back: {to}"))),
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
