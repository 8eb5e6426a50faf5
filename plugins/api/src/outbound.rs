//! The one HTTP client for calls Sesame makes itself (client JWKS URIs, SMS gateways; webhooks
//! and upstream providers later), with timeouts, a size cap and an egress policy. It lives in the
//! plugin API crate so that plugins use exactly the client the server does.
//!
//! The policy refuses loopback, private, link-local and other non-public addresses unless
//! configuration allows them (`SESAME_OUTBOUND_ALLOW_PRIVATE`), so a URL someone registered
//! cannot make Sesame probe its own network. It is enforced where addresses are resolved, so
//! a name that resolves to a private address is refused too, not just literal IPs.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tracing::Instrument;

/// Largest response body read (a JWKS is a few kilobytes).
const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("{0} is refused by the egress policy (a non-public address)")]
    Refused(String),
    #[error("only https URLs may be fetched: {0}")]
    NotHttps(String),
    #[error("request to {url} failed: {reason}")]
    Failed { url: String, reason: String },
}

/// Whether an address is publicly routable.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                // 100.64.0.0/10, carrier-grade NAT; 0.0.0.0/8.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
                || v4.octets()[0] == 0
                // 192.0.0.0/24 (IETF), 198.18.0.0/15 (benchmarking), 240.0.0.0/4 (reserved).
                || (v4.octets()[0..3] == [192, 0, 0])
                || (v4.octets()[0] == 198 && (v4.octets()[1] & 0xfe) == 18)
                || v4.octets()[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            // Addresses that carry an IPv4 one: NAT64 (64:ff9b::/96), 6to4 (2002::/16) and the
            // deprecated IPv4-compatible ::a.b.c.d are judged by the address they embed.
            let embedded = |hi: u16, lo: u16| {
                std::net::Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
            };
            if seg[0..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(IpAddr::V4(embedded(seg[6], seg[7])));
            }
            if seg[0] == 0x2002 {
                return is_public(IpAddr::V4(embedded(seg[1], seg[2])));
            }
            if seg[0..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
                return is_public(IpAddr::V4(embedded(seg[6], seg[7])));
            }
            let first = seg[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link local
                || (first & 0xffc0) == 0xfec0) // site local (deprecated)
        }
    }
}

/// Resolves names and keeps only the addresses the policy allows.
#[derive(Debug)]
struct PolicyResolver {
    allow_private: bool,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(OutboundError::Refused(host))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The outbound client; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbound {
    client: reqwest::Client,
    allow_private: bool,
}

impl Outbound {
    pub fn new(allow_private: bool) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would resolve names itself, past the policy.
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver { allow_private }))
            .user_agent(concat!("Sesame/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds");
        Self {
            client,
            allow_private,
        }
    }

    /// Checks a URL against the policy before any request: https (plain http only where private
    /// addresses are allowed, i.e. development and tests), and no literal non-public IP.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, OutboundError> {
        let url = url::Url::parse(raw).map_err(|_| OutboundError::NotHttps(raw.to_string()))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            _ => return Err(OutboundError::NotHttps(raw.to_string())),
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = literal
            && !self.allow_private
            && !is_public(ip)
        {
            return Err(OutboundError::Refused(ip.to_string()));
        }
        Ok(url)
    }

    /// A request to `raw` after the URL passed the policy; send it with
    /// [`Outbound::send_capped`].
    pub fn request(
        &self,
        method: reqwest::Method,
        raw: &str,
    ) -> Result<reqwest::RequestBuilder, OutboundError> {
        let url = self.check_url(raw)?;
        Ok(self.client.request(method, url))
    }

    /// Sends a request and reads the status and at most [`MAX_BODY`] bytes of the body.
    pub async fn send_capped(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), OutboundError> {
        let (status, _, body) = self.send_capped_with_headers(request).await?;
        Ok((status, body))
    }

    /// [`Outbound::send_capped`], with the response headers (for protocol clients that look at
    /// the content type).
    pub async fn send_capped_with_headers(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>), OutboundError> {
        let url = request
            .try_clone()
            .and_then(|r| r.build().ok())
            .map(|r| r.url().to_string())
            .unwrap_or_default();
        let fail = |reason: String| OutboundError::Failed {
            url: url.clone(),
            reason,
        };
        let span = client_span(&request);
        async {
            // The URL is left out of reqwest's text: it is `url` (which a caller may redact).
            let mut res = request
                .send()
                .await
                .map_err(|e| fail(error_chain(&e.without_url())))?;
            let status = res.status();
            tracing::Span::current().record("http.status_code", status.as_u16());
            let headers = res.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = res
                .chunk()
                .await
                .map_err(|e| fail(e.without_url().to_string()))?
            {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_BODY {
                    return Err(fail(format!("response larger than {MAX_BODY} bytes")));
                }
            }
            Ok((status, headers, body))
        }
        .instrument(span.clone())
        .await
        .inspect_err(|_| {
            span.record("otel.status_code", "ERROR");
        })
    }

    /// GETs a JSON document, at most [`MAX_BODY`] bytes.
    pub async fn get_json(&self, raw: &str) -> Result<serde_json::Value, OutboundError> {
        let url = self.check_url(raw)?;
        let fail = |reason: String| OutboundError::Failed {
            url: raw.to_string(),
            reason,
        };
        let request = self.client.get(url);
        let span = client_span(&request);
        async {
            // The URL is left out of reqwest's text: it is `url` (which a caller may redact).
            let mut res = request
                .send()
                .await
                .map_err(|e| fail(error_chain(&e.without_url())))?;
            tracing::Span::current().record("http.status_code", res.status().as_u16());
            if !res.status().is_success() {
                return Err(fail(format!("HTTP {}", res.status())));
            }
            let mut body = Vec::new();
            while let Some(chunk) = res
                .chunk()
                .await
                .map_err(|e| fail(e.without_url().to_string()))?
            {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_BODY {
                    return Err(fail(format!("response larger than {MAX_BODY} bytes")));
                }
            }
            serde_json::from_slice(&body).map_err(|e| fail(format!("not JSON: {e}")))
        }
        .instrument(span.clone())
        .await
        .inspect_err(|_| {
            span.record("otel.status_code", "ERROR");
        })
    }
}

/// The span of one outgoing request (exported as an OpenTelemetry client span when traces are
/// on): the method and the host only. Never the path or the query, which carry account ids,
/// tokens or a webhook's secret callback address.
fn client_span(request: &reqwest::RequestBuilder) -> tracing::Span {
    let span = tracing::debug_span!(
        "HTTP client request",
        otel.name = tracing::field::Empty,
        otel.kind = "client",
        http.method = tracing::field::Empty,
        server.address = tracing::field::Empty,
        http.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    if !span.is_disabled()
        && let Some(built) = request.try_clone().and_then(|r| r.build().ok())
    {
        let host = built.url().host_str().unwrap_or_default().to_string();
        span.record("otel.name", format!("{} {host}", built.method()));
        span.record("http.method", built.method().as_str());
        span.record("server.address", host);
    }
    span
}

/// An error with its causes, so "refused by the egress policy" is not hidden behind
/// "error sending request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_private_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
            "::10.0.0.1",
            "fec0::1",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "1.1.1.1"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_before_any_request() {
        let strict = Outbound::new(false);
        assert!(matches!(
            strict.check_url("http://example.com/jwks"),
            Err(OutboundError::NotHttps(_))
        ));
        assert!(matches!(
            strict.check_url("https://127.0.0.1/jwks"),
            Err(OutboundError::Refused(_))
        ));
        assert!(matches!(
            strict.check_url("https://[::1]/jwks"),
            Err(OutboundError::Refused(_))
        ));
        assert!(strict.check_url("https://example.com/jwks").is_ok());
        let dev = Outbound::new(true);
        assert!(dev.check_url("http://127.0.0.1:8080/jwks").is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused() {
        let err = Outbound::new(false)
            .get_json("https://localhost:1/jwks")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("egress policy"), "{err}");
    }
}
