//! The harness's browser: a cookie jar per module, following the provider's redirects and
//! filling its pages the way a user would (the suite's "browser" steps). It knows Sesame's pages
//! (`/login`, `/otp` with the code read from the test channel, `/consent`) and oidc-provider's
//! interaction pages (a login form, then a consent form), and stops at the client's redirect
//! URI: nothing listens there, the answer is read from the `Location` (or the form_post page).

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::StatusCode;

/// Where codes sent by text message can be read (Sesame's in-process capture channel).
pub type OtpSource = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// What a user needs to sign in.
#[derive(Clone)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub otp: Option<OtpSource>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("otp", &self.otp.is_some())
            .finish()
    }
}

/// How the authorization response came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Query,
    FormPost,
}

/// The end of an authorization in the browser.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Back at the client with these parameters.
    Back {
        url: String,
        params: HashMap<String, String>,
        mode: Mode,
        /// How many sign-in forms the user filled on the way (0: the session answered).
        sign_ins: usize,
        /// How many pages of the provider asked for anything (sign-in, code, consent).
        pages: usize,
    },
    /// Sent to an address of the client's site that is not a registered redirect URI.
    Elsewhere { url: String },
    /// The provider showed a page and did not send the browser back (an error page).
    Page { status: u16, body: String },
}

impl Answer {
    pub fn sign_ins(&self) -> usize {
        match self {
            Self::Back { sign_ins, .. } => *sign_ins,
            _ => 0,
        }
    }

    /// Pages that asked the user for anything on the way back.
    pub fn pages(&self) -> usize {
        match self {
            Self::Back { pages, .. } => *pages,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Browser {
    pub client: reqwest::Client,
    /// The registered redirect URIs (without query): a redirect to one of them is the answer;
    /// to another address of the same origin, a wrong turn.
    callbacks: Vec<url::Url>,
    credentials: Credentials,
}

/// The value of a hidden (or any) input named `name`.
pub fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\"");
    let at = html.find(&marker)?;
    // The input's tag around the name.
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let v = tag.find("value=\"")? + "value=\"".len();
    let value = &tag[v..v + tag[v..].find('"')?];
    Some(unescape(value))
}

/// Every `name="…" value="…"` input of a page (for form_post and oidc-provider's forms).
pub fn inputs(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<input") {
        rest = &rest[i..];
        let end = rest.find('>').unwrap_or(rest.len());
        let tag = &rest[..end];
        let attr = |a: &str| {
            let key = format!("{a}=\"");
            tag.find(&key).map(|p| {
                let v = &tag[p + key.len()..];
                unescape(&v[..v.find('"').unwrap_or(v.len())])
            })
        };
        if let Some(name) = attr("name") {
            out.push((name, attr("value").unwrap_or_default()));
        }
        rest = &rest[end..];
    }
    out
}

/// The `action` of the first form of a page.
pub fn form_action(html: &str) -> Option<String> {
    let f = html.find("<form")?;
    let tag = &html[f..f + html[f..].find('>')?];
    let a = tag.find("action=\"")? + "action=\"".len();
    Some(unescape(&tag[a..a + tag[a..].find('"')?]))
}

fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Browser {
    pub fn new(ca: &reqwest::Certificate, callbacks: &[&str], credentials: Credentials) -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .add_root_certificate(ca.clone())
                .build()
                .expect("the browser's HTTP client builds"),
            callbacks: callbacks
                .iter()
                .map(|c| url::Url::parse(c).expect("a registered redirect URI"))
                .collect(),
            credentials,
        }
    }

    /// Opens `url` (an authorization request, a logout URL) and goes on like a user until the
    /// browser is sent back to the client or stays on a page.
    pub async fn open(&self, url: &str) -> Result<Answer, String> {
        let res = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        self.follow(res).await
    }

    /// Like [`Browser::open`] with the request sent as a form POST (the suite's
    /// oidcc-ensure-post-request-succeeds).
    pub async fn open_post(
        &self,
        endpoint: &str,
        form: &[(String, String)],
    ) -> Result<Answer, String> {
        let res = self
            .client
            .post(endpoint)
            .form(form)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        self.follow(res).await
    }

    /// Whether `url` is a registered redirect URI (`Some(true)`), another address of the
    /// client's site (`Some(false)`), or elsewhere (`None`: the provider's own pages).
    fn at_client(&self, url: &url::Url) -> Option<bool> {
        let exact = self
            .callbacks
            .iter()
            .any(|c| c.origin() == url.origin() && c.path() == url.path());
        if exact {
            Some(true)
        } else if self.callbacks.iter().any(|c| c.origin() == url.origin()) {
            Some(false)
        } else {
            None
        }
    }

    async fn follow(&self, mut res: reqwest::Response) -> Result<Answer, String> {
        let mut sign_ins = 0;
        let mut pages = 0;
        for _ in 0..20 {
            let status = res.status();
            if status.is_redirection() {
                let to = res
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .ok_or("a redirect without Location")?
                    .to_string();
                let next = res.url().join(&to).map_err(|e| e.to_string())?;
                let to = next.to_string();
                match self.at_client(&next) {
                    Some(true) => {
                        let params = next.query_pairs().into_owned().collect();
                        return Ok(Answer::Back {
                            url: to,
                            params,
                            mode: Mode::Query,
                            sign_ins,
                            pages,
                        });
                    }
                    Some(false) => return Ok(Answer::Elsewhere { url: to }),
                    None => {}
                }
                res = self
                    .client
                    .get(&to)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                continue;
            }
            let page_url = res.url().clone();
            let body = res.text().await.map_err(|e| e.to_string())?;
            if status != StatusCode::OK {
                return Ok(Answer::Page {
                    status: status.as_u16(),
                    body,
                });
            }
            // form_post: a page that posts the answer to the client.
            if let Some(action) = form_action(&body)
                && let Ok(target) = url::Url::parse(&action)
                && let Some(registered) = self.at_client(&target)
            {
                if !registered {
                    return Ok(Answer::Elsewhere { url: action });
                }
                return Ok(Answer::Back {
                    url: action,
                    params: inputs(&body).into_iter().collect(),
                    mode: Mode::FormPost,
                    sign_ins,
                    pages,
                });
            }
            let path = page_url.path().to_string();
            let c = &self.credentials;
            pages += 1;
            let (action, form): (String, Vec<(String, String)>) =
                if path.ends_with("/login") && body.contains("name=\"password\"") {
                    sign_ins += 1;
                    (
                        page_url
                            .join("login")
                            .map_err(|e| e.to_string())?
                            .to_string(),
                        vec![
                            ("tx".into(), input_value(&body, "tx").ok_or("no tx")?),
                            ("csrf".into(), input_value(&body, "csrf").ok_or("no csrf")?),
                            ("username".into(), c.username.clone()),
                            ("password".into(), c.password.clone()),
                        ],
                    )
                } else if path.ends_with("/otp") {
                    let code = c
                        .otp
                        .as_ref()
                        .and_then(|read| read())
                        .ok_or("an OTP page, and no code in the test channel")?;
                    (
                        page_url.join("otp").map_err(|e| e.to_string())?.to_string(),
                        vec![
                            ("tx".into(), input_value(&body, "tx").ok_or("no tx")?),
                            ("csrf".into(), input_value(&body, "csrf").ok_or("no csrf")?),
                            ("code".into(), code),
                            ("action".into(), "verify".into()),
                        ],
                    )
                } else if path.ends_with("/consent") {
                    (
                        page_url
                            .join("consent")
                            .map_err(|e| e.to_string())?
                            .to_string(),
                        vec![
                            ("tx".into(), input_value(&body, "tx").ok_or("no tx")?),
                            ("csrf".into(), input_value(&body, "csrf").ok_or("no csrf")?),
                            ("decision".into(), "allow".into()),
                        ],
                    )
                } else if path.contains("/interaction/") {
                    // oidc-provider: the login form (login, password), else the consent form.
                    let action = form_action(&body).ok_or("an interaction page without a form")?;
                    let mut form: Vec<(String, String)> = inputs(&body)
                        .into_iter()
                        .filter(|(k, _)| k != "login" && k != "password")
                        .collect();
                    if body.contains("name=\"login\"") {
                        sign_ins += 1;
                        form.push(("login".into(), c.username.clone()));
                        form.push(("password".into(), c.password.clone()));
                    }
                    (
                        page_url
                            .join(&action)
                            .map_err(|e| e.to_string())?
                            .to_string(),
                        form,
                    )
                } else {
                    return Ok(Answer::Page {
                        status: status.as_u16(),
                        body,
                    });
                };
            res = self
                .client
                .post(&action)
                .form(&form)
                .send()
                .await
                .map_err(|e| e.to_string())?;
        }
        Err("more than 20 steps without an answer".into())
    }
}
