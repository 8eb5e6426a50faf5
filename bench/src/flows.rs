//! The requests of each figure, against either side, each checking its answer.
//!
//! A full sign-in is what a browser and a web app's back end do: the authorization request, the
//! sign-in page, the password, the code page (Sesame sends the SMS then, through its HTTP gateway
//! to the bench's receiver; the peer's code is fixed), the code, the redirect back with an
//! authorization code, and the code exchange at the token endpoint with the client secret and
//! the PKCE verifier. It counts only when the exchange returns an ID token whose `nonce` and
//! `aud` are the request's.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use reqwest::header::{COOKIE, LOCATION};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::jar::Jar;
use crate::sms::Inbox;
use crate::targets::{
    Kind, PASSWORD, PEER_OTP, REDIRECT_URI, RESOURCE, RESOURCE_SCOPE, SCOPE, SECRET, Target, User,
    WEB_CLIENT,
};

/// How long a sign-in waits for its text message.
const SMS_WAIT: Duration = Duration::from_secs(15);

/// One shared HTTP client: no redirects followed (they are the protocol), connections kept.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()
        .expect("an HTTP client")
}

/// A PKCE verifier with its challenge, and the request's state and nonce.
#[derive(Debug, Clone)]
pub struct Pkce {
    pub verifier: String,
    challenge: String,
    state: String,
    pub nonce: String,
}

impl Pkce {
    pub fn new() -> Self {
        let random = || B64URL.encode(rand::random::<[u8; 32]>());
        let verifier = random();
        Self {
            challenge: B64URL.encode(Sha256::digest(verifier.as_bytes())),
            verifier,
            state: random()[..16].to_string(),
            nonce: random(),
        }
    }

    fn authorize_url(&self, target: &Target) -> String {
        let mut url = url::Url::parse(&target.authorization).expect("a discovered URL");
        url.query_pairs_mut()
            .append_pair("client_id", WEB_CLIENT)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("scope", SCOPE)
            .append_pair("state", &self.state)
            .append_pair("nonce", &self.nonce)
            .append_pair("code_challenge", &self.challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }
}

/// An answer: status, where it redirects (made absolute) and the body.
#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
    text: String,
}

impl Answer {
    /// The redirect's target, when it is a 302/303 whose target contains `to`.
    fn redirect_to(&self, to: &str, what: &str) -> Result<String, String> {
        match &self.location {
            Some(l) if matches!(self.status, 302 | 303) && l.contains(to) => Ok(l.clone()),
            _ => Err(format!(
                "{what}: expected a redirect to …{to}…, got {} {} {}",
                self.status,
                self.location.as_deref().unwrap_or(""),
                snippet(&self.text)
            )),
        }
    }

    fn page(self, what: &str) -> Result<String, String> {
        if self.status == 200 {
            Ok(self.text)
        } else {
            Err(format!("{what}: {} {}", self.status, snippet(&self.text)))
        }
    }
}

/// A page's title or the first characters of a body, on one line.
fn snippet(text: &str) -> String {
    if let Some((_, rest)) = text.split_once("<title>")
        && let Some((title, _)) = rest.split_once("</title>")
    {
        return format!("page \"{title}\"");
    }
    text.chars()
        .take(200)
        .collect::<String>()
        .replace('\n', " ")
}

/// A browser: the shared client plus its own cookies.
#[derive(Debug, Clone)]
pub struct Browser {
    http: reqwest::Client,
    jar: Jar,
}

impl Browser {
    pub fn new(http: &reqwest::Client) -> Self {
        Self {
            http: http.clone(),
            jar: Jar::default(),
        }
    }

    async fn send(
        &mut self,
        url: &str,
        form: Option<&[(&str, &str)]>,
        keep_cookies: bool,
    ) -> Result<Answer, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        let mut req = match form {
            Some(form) => self.http.post(url).form(form),
            None => self.http.get(url),
        };
        if let Some(cookies) = self.jar.header_for(parsed.path()) {
            req = req.header(COOKIE, cookies);
        }
        let res = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        if keep_cookies {
            self.jar.store(parsed.path(), res.headers());
        }
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| parsed.join(l).ok())
            .map(String::from);
        let text = res.text().await.map_err(|e| format!("{url}: {e}"))?;
        Ok(Answer {
            status,
            location,
            text,
        })
    }

    async fn get(&mut self, url: &str) -> Result<Answer, String> {
        self.send(url, None, true).await
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Result<Answer, String> {
        self.send(url, Some(form), true).await
    }
}

/// One full sign-in of `user` at `target`; returns the browser, which holds the SSO session.
pub async fn sign_in(
    http: &reqwest::Client,
    inbox: &Inbox,
    target: &Target,
    user: &User,
) -> Result<Browser, String> {
    let mut browser = Browser::new(http);
    let pkce = Pkce::new();
    let back = match target.kind() {
        Kind::SesameSqlite | Kind::SesamePostgres => {
            sesame_steps(&mut browser, inbox, target, user, &pkce).await?
        }
        Kind::Peer => peer_steps(&mut browser, target, user, &pkce).await?,
    };
    let code = code_in_redirect(&back, &pkce)?;
    let tokens = exchange(http, target, &code, &pkce.verifier).await?;
    check_id_token(&tokens, &pkce.nonce)?;
    Ok(browser)
}

/// Sesame's pages: `/login`, `/otp`; the forms carry `tx` and `csrf`.
async fn sesame_steps(
    browser: &mut Browser,
    inbox: &Inbox,
    target: &Target,
    user: &User,
    pkce: &Pkce,
) -> Result<String, String> {
    let login = browser
        .get(&pkce.authorize_url(target))
        .await?
        .redirect_to("/login?", "authorize")?;
    let page = browser.get(&login).await?.page("sign-in page")?;
    let (tx, csrf) = hidden_fields(&page, "sign-in page")?;
    let otp = browser
        .post(
            without_query(&login),
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("username", &user.username),
                ("password", PASSWORD),
            ],
        )
        .await?
        .redirect_to("/otp?", "password")?;
    // The first visit of the code page sends the code.
    let awaited = inbox.expect(&user.phone);
    let page = browser.get(&otp).await?.page("code page")?;
    let (tx, csrf) = hidden_fields(&page, "code page")?;
    let code = awaited.code(SMS_WAIT).await?;
    browser
        .post(
            without_query(&otp),
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("code", &code),
                ("action", "verify"),
            ],
        )
        .await?
        .redirect_to(REDIRECT_URI, "code")
}

/// The peer's interaction pages: `/interaction/{uid}`, `…/login`, `…/otp`, then the resume.
async fn peer_steps(
    browser: &mut Browser,
    target: &Target,
    user: &User,
    pkce: &Pkce,
) -> Result<String, String> {
    let interaction = browser
        .get(&pkce.authorize_url(target))
        .await?
        .redirect_to("/interaction/", "authorize")?;
    browser.get(&interaction).await?.page("sign-in page")?;
    let otp = browser
        .post(
            &format!("{interaction}/login"),
            &[("login", &user.username), ("password", PASSWORD)],
        )
        .await?
        .redirect_to("/otp", "password")?;
    browser.get(&otp).await?.page("code page")?;
    let resume = browser
        .post(&otp, &[("code", PEER_OTP)])
        .await?
        .redirect_to("/auth/", "code")?;
    browser
        .get(&resume)
        .await?
        .redirect_to(REDIRECT_URI, "resume")
}

fn without_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// The `tx` and `csrf` hidden fields of a Sesame form.
fn hidden_fields(html: &str, what: &str) -> Result<(String, String), String> {
    match (field(html, "tx"), field(html, "csrf")) {
        (Some(tx), Some(csrf)) => Ok((tx, csrf)),
        _ => Err(format!("{what}: no form ({})", snippet(html))),
    }
}

/// The value of the first `name="{name}" value="…"` in a page.
fn field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(
        html[start..start + end]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/")
            .replace("&#x2F;", "/"),
    )
}

/// The code of a redirect back to the client, after checking its `state`.
fn code_in_redirect(to: &str, pkce: &Pkce) -> Result<String, String> {
    let url = url::Url::parse(to).map_err(|e| format!("{to}: {e}"))?;
    let get = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    match (get("code"), get("state")) {
        (Some(code), Some(state)) if state == pkce.state => Ok(code),
        _ => Err(format!("unexpected redirect back: {to}")),
    }
}

/// An authorization code for a browser with an SSO session: the authorization request is
/// answered with the redirect back at once (no page, no hash).
pub async fn mint_code(browser: &Browser, target: &Target, pkce: &Pkce) -> Result<String, String> {
    // Cookies are only read: many codes are minted with one browser at once.
    let mut reader = browser.clone();
    let back = reader
        .send(&pkce.authorize_url(target), None, false)
        .await?
        .redirect_to(REDIRECT_URI, "authorize with a session")?;
    code_in_redirect(&back, pkce)
}

/// POSTs a form to the token endpoint as `client_id` (client_secret_basic); the JSON answer
/// when it is a 200.
async fn token_request(
    http: &reqwest::Client,
    target: &Target,
    client_id: &str,
    form: &[(&str, &str)],
) -> Result<Value, String> {
    let res = http
        .post(&target.token)
        .basic_auth(client_id, Some(SECRET))
        .form(form)
        .send()
        .await
        .map_err(|e| format!("token: {e}"))?;
    let status = res.status();
    let text = res.text().await.map_err(|e| format!("token: {e}"))?;
    if status != 200 {
        return Err(format!("token: {status} {}", snippet(&text)));
    }
    serde_json::from_str(&text).map_err(|e| format!("token: {e}: {}", snippet(&text)))
}

/// The authorization-code exchange; the answer must hold an ID token and an access token.
pub async fn exchange(
    http: &reqwest::Client,
    target: &Target,
    code: &str,
    verifier: &str,
) -> Result<Value, String> {
    let tokens = token_request(
        http,
        target,
        WEB_CLIENT,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ],
    )
    .await?;
    if tokens["id_token"].as_str().is_none() || tokens["access_token"].as_str().is_none() {
        return Err(format!(
            "code exchange without an ID or access token: {tokens}"
        ));
    }
    Ok(tokens)
}

/// A JWS's part `index` (0: header, 1: payload) as JSON, unverified.
pub fn jws_part(jws: &str, index: usize) -> Option<Value> {
    let part = jws.split('.').nth(index)?;
    serde_json::from_slice(&B64URL.decode(part).ok()?).ok()
}

/// The ID token names this client and carries the request's nonce.
fn check_id_token(tokens: &Value, nonce: &str) -> Result<(), String> {
    let claims = tokens["id_token"]
        .as_str()
        .and_then(|t| jws_part(t, 1))
        .ok_or("the ID token is not a JWS")?;
    if claims["nonce"] != nonce || claims["aud"] != WEB_CLIENT || claims["sub"].as_str().is_none() {
        return Err(format!("unexpected ID token claims: {claims}"));
    }
    Ok(())
}

/// A client-credentials grant for the API; returns the access token.
pub async fn client_credentials(
    http: &reqwest::Client,
    target: &Target,
    client_id: &str,
) -> Result<String, String> {
    let tokens = token_request(
        http,
        target,
        client_id,
        &[
            ("grant_type", "client_credentials"),
            ("resource", RESOURCE),
            ("scope", RESOURCE_SCOPE),
        ],
    )
    .await?;
    tokens["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no access token: {tokens}"))
}

/// A refresh; returns the refresh token to use next (the new one: both sides rotate).
pub async fn refresh(
    http: &reqwest::Client,
    target: &Target,
    refresh_token: &str,
) -> Result<String, String> {
    let tokens = token_request(
        http,
        target,
        WEB_CLIENT,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await?;
    if tokens["access_token"].as_str().is_none() {
        return Err(format!("refresh without an access token: {tokens}"));
    }
    Ok(tokens["refresh_token"]
        .as_str()
        .unwrap_or(refresh_token)
        .to_string())
}

/// UserInfo with a bearer token; the answer must name a subject.
pub async fn userinfo(
    http: &reqwest::Client,
    target: &Target,
    access_token: &str,
) -> Result<(), String> {
    let res = http
        .get(&target.userinfo)
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|e| format!("userinfo: {e}"))?;
    let status = res.status();
    let body: Value = res
        .json()
        .await
        .map_err(|e| format!("userinfo: {status}: {e}"))?;
    if status != 200 || body["sub"].as_str().is_none() {
        return Err(format!("userinfo: {status} {body}"));
    }
    Ok(())
}

/// A GET that must answer 200 with a JSON object holding `member` (JWKS: `keys`; discovery:
/// `issuer`).
pub async fn get_json(http: &reqwest::Client, url: &str, member: &str) -> Result<(), String> {
    let res = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = res.status();
    let body = res.bytes().await.map_err(|e| format!("{url}: {e}"))?;
    if status != 200 {
        return Err(format!("{url}: {status}"));
    }
    // A substring check: parsing every answer would make the load generator the bottleneck.
    let needle = format!("\"{member}\"");
    if !body.windows(needle.len()).any(|w| w == needle.as_bytes()) {
        return Err(format!("{url}: no {member} in the answer"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_redirects_are_read() {
        let html = r#"<input type="hidden" name="tx" value="a&amp;b"><input type="hidden" name="csrf" value="c">"#;
        assert_eq!(
            hidden_fields(html, "page"),
            Ok(("a&b".to_string(), "c".to_string()))
        );
        assert!(hidden_fields("<p>no form</p>", "page").is_err());
        let pkce = Pkce::new();
        let back = format!("{REDIRECT_URI}?code=xyz&state={}&iss=i", pkce.state);
        assert_eq!(code_in_redirect(&back, &pkce), Ok("xyz".to_string()));
        let forged = format!("{REDIRECT_URI}?code=xyz&state=other");
        assert!(code_in_redirect(&forged, &pkce).is_err());
    }

    #[test]
    fn the_id_token_must_carry_the_nonce() {
        let payload = |nonce: &str| {
            let claims = serde_json::json!({"sub": "s", "aud": WEB_CLIENT, "nonce": nonce});
            format!("e30.{}.sig", B64URL.encode(claims.to_string()))
        };
        let tokens = serde_json::json!({ "id_token": payload("n1") });
        assert!(check_id_token(&tokens, "n1").is_ok());
        assert!(check_id_token(&tokens, "n2").is_err());
        assert!(check_id_token(&serde_json::json!({}), "n1").is_err());
    }
}
