//! One browser's cookies: a sign-in keeps its own while all sign-ins share one HTTP client (and
//! its connection pool), as reqwest's jar is per client. Paths are honoured, because the peer
//! sets cookies of the same name on `/interaction/{uid}` and `/auth/{uid}`; a cookie set again
//! with a past expiry or `Max-Age=0` is removed. Hosts are not told apart: a jar only ever talks
//! to one server.

use cookie::Cookie;
use cookie::time::OffsetDateTime;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stored {
    name: String,
    value: String,
    path: String,
}

#[derive(Debug, Clone, Default)]
pub struct Jar {
    cookies: Vec<Stored>,
}

impl Jar {
    /// Takes the `Set-Cookie` headers of an answer to a request for `request_path`.
    pub fn store(&mut self, request_path: &str, headers: &reqwest::header::HeaderMap) {
        for header in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            let Ok(parsed) = Cookie::parse(text) else {
                continue;
            };
            let path = parsed
                .path()
                .filter(|p| p.starts_with('/'))
                .map(str::to_string)
                .unwrap_or_else(|| default_path(request_path));
            let expired = parsed
                .max_age()
                .is_some_and(|age| age.is_zero() || age.is_negative())
                || parsed
                    .expires_datetime()
                    .is_some_and(|at| at <= OffsetDateTime::now_utc());
            self.cookies
                .retain(|c| !(c.name == parsed.name() && c.path == path));
            if !expired {
                self.cookies.push(Stored {
                    name: parsed.name().to_string(),
                    value: parsed.value().to_string(),
                    path,
                });
            }
        }
    }

    /// The `Cookie` header for a request to `path`, most specific paths first (RFC 6265 5.4).
    pub fn header_for(&self, path: &str) -> Option<String> {
        let mut matching: Vec<&Stored> = self
            .cookies
            .iter()
            .filter(|c| path_matches(path, &c.path))
            .collect();
        if matching.is_empty() {
            return None;
        }
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        Some(
            matching
                .iter()
                .map(|c| format!("{}={}", c.name, c.value))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// RFC 6265 5.1.4: the request path up to (not including) its last `/`, or `/`.
fn default_path(request_path: &str) -> String {
    match request_path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => request_path[..i].to_string(),
    }
}

/// RFC 6265 5.1.4's path-match.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request.as_bytes().get(cookie.len()) == Some(&b'/')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(SET_COOKIE, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn paths_are_honoured_and_expired_cookies_removed() {
        let mut jar = Jar::default();
        jar.store(
            "/auth",
            &headers(&[
                "_interaction=a; path=/interaction/a; httponly",
                "_interaction_resume=r; path=/auth/a; httponly",
                "_session=s; path=/; samesite=lax",
            ]),
        );
        assert_eq!(
            jar.header_for("/interaction/a/login").as_deref(),
            Some("_interaction=a; _session=s")
        );
        assert_eq!(
            jar.header_for("/auth/a").as_deref(),
            Some("_interaction_resume=r; _session=s")
        );
        // Not a path-match: /auth/ab is another interaction.
        assert_eq!(jar.header_for("/auth/ab").as_deref(), Some("_session=s"));
        jar.store(
            "/auth/a",
            &headers(&[
                "_interaction_resume=; path=/auth/a; expires=Thu, 01 Jan 1970 00:00:00 GMT",
                "_session=t; path=/",
            ]),
        );
        assert_eq!(jar.header_for("/auth/a").as_deref(), Some("_session=t"));
        let mut jar = Jar::default();
        jar.store("/t/bench/login", &headers(&["sid=x; Path=/t/bench"]));
        jar.store(
            "/t/bench/login",
            &headers(&["sid=x; Max-Age=0; Path=/t/bench"]),
        );
        // No Path: the request's directory.
        jar.store("/t/bench/login", &headers(&["tx=y"]));
        assert_eq!(jar.header_for("/t/bench/otp").as_deref(), Some("tx=y"));
        assert_eq!(jar.header_for("/t/other"), None);
    }
}
