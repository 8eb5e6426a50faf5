//! The client's IP address: the TCP peer, unless the peer is a trusted proxy, in which case the
//! nearest untrusted address the proxies reported (read right to left, as proxies append). The
//! proxies' report is the RFC 7239 `Forwarded` header (`for=`) when present, else
//! `X-Forwarded-For`. Believing either from anyone would let a client pick its own address and
//! dodge limits.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::dev::ServiceRequest;
use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops = if headers.contains_key("forwarded") {
        forwarded_for(headers)
    } else {
        x_forwarded_for(headers)
    };
    // A malformed hop: stop believing the chain.
    let Some(hops) = hops else {
        return Some(peer);
    };
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    Some(client)
}

/// The hops of every `X-Forwarded-For` header, in order; `None` if one is not an address.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        for item in value.to_str().ok()?.split(',') {
            hops.push(item.trim().parse::<IpAddr>().ok()?);
        }
    }
    Some(hops)
}

/// One element of an RFC 7239 `Forwarded` header: what one proxy saw.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ForwardedElement {
    pub for_: Option<String>,
    pub proto: Option<String>,
    pub host: Option<String>,
}

/// The elements of every `Forwarded` header, in order (RFC 7239 §4: `;`-separated pairs,
/// `,`-separated elements, values as tokens or quoted strings). `None` when it does not parse.
pub fn forwarded_elements(headers: &HeaderMap) -> Option<Vec<ForwardedElement>> {
    let mut elements = Vec::new();
    for value in headers.get_all("forwarded") {
        let text = value.to_str().ok()?;
        let mut element = ForwardedElement::default();
        let mut rest = text.trim_start();
        let mut pending = false;
        while !rest.is_empty() {
            let eq = rest.find('=')?;
            let name = rest[..eq].trim().to_ascii_lowercase();
            rest = &rest[eq + 1..];
            let value = if let Some(quoted) = rest.strip_prefix('"') {
                let mut out = String::new();
                let mut chars = quoted.char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => out.push(chars.next()?.1),
                        '"' => {
                            end = Some(i + 1);
                            break;
                        }
                        c => out.push(c),
                    }
                }
                rest = &quoted[end?..];
                out
            } else {
                let end = rest.find([';', ',']).unwrap_or(rest.len());
                let token = rest[..end].trim().to_string();
                rest = &rest[end..];
                token
            };
            match name.as_str() {
                "for" => element.for_ = Some(value),
                "proto" => element.proto = Some(value),
                "host" => element.host = Some(value),
                _ => {}
            }
            pending = true;
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix(',') {
                elements.push(std::mem::take(&mut element));
                pending = false;
                rest = r.trim_start();
            } else if let Some(r) = rest.strip_prefix(';') {
                rest = r.trim_start();
            } else if !rest.is_empty() {
                return None;
            }
        }
        if pending {
            elements.push(element);
        }
    }
    Some(elements)
}

/// The `for=` addresses of the `Forwarded` headers, in order; `None` if an element has none or
/// names no address (`unknown`, an obfuscated `_id`): like a malformed `X-Forwarded-For` hop.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<IpAddr>> {
    forwarded_elements(headers)?
        .into_iter()
        .map(|e| node_ip(e.for_.as_deref()?))
        .collect()
}

/// The address of an RFC 7239 node: `192.0.2.1`, `192.0.2.1:80`, `[2001:db8::1]` or
/// `[2001:db8::1]:80`.
fn node_ip(node: &str) -> Option<IpAddr> {
    if let Some(v6) = node.strip_prefix('[') {
        let (addr, rest) = v6.split_once(']')?;
        if !(rest.is_empty() || rest.starts_with(':')) {
            return None;
        }
        return addr.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let addr = node.split_once(':').map_or(node, |(a, _)| a);
    addr.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The scheme and host the client used, as the nearest trusted proxy reported them in
/// `Forwarded` (`proto=`, `host=`), from trusted peers only. Sesame builds its URLs from
/// `SESAME_BASE_URL`, never from these; the access log records them so a proxy that disagrees
/// with the base URL shows.
pub fn forwarded_origin(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> (Option<String>, Option<String>) {
    let trusted_peer = peer.is_some_and(|ip| trusted.iter().any(|net| net.contains(&ip)));
    if !trusted_peer {
        return (None, None);
    }
    // The last element is the one our trusted peer wrote.
    match forwarded_elements(headers).and_then(|mut e| e.pop()) {
        Some(last) => (last.proto, last.host),
        None => (None, None),
    }
}

pub fn of_request(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    client_ip(req.peer_addr().map(|a| a.ip()), req.headers(), trusted)
}

pub fn of_service_request(req: &ServiceRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    client_ip(req.peer_addr().map(|a| a.ip()), req.headers(), trusted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn untrusted_peer_header_is_ignored() {
        let ip = client_ip(
            Some("203.0.113.9".parse().unwrap()),
            &headers(&["1.2.3.4"]),
            &["10.0.0.0/8".parse().unwrap()],
        );
        assert_eq!(ip, Some("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn trusted_proxy_chain_is_walked_from_the_right() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // The client forged the first entry; the proxies appended the real one and themselves.
        let h = headers(&["6.6.6.6, 198.51.100.7", "10.0.0.2"]);
        assert_eq!(
            client_ip(Some("10.0.0.1".parse().unwrap()), &h, &trusted),
            Some("198.51.100.7".parse().unwrap())
        );
        // No header from a trusted peer: the peer itself.
        assert_eq!(
            client_ip(Some("10.0.0.1".parse().unwrap()), &headers(&[]), &trusted),
            Some("10.0.0.1".parse().unwrap())
        );
        // A malformed entry: fall back to the peer.
        assert_eq!(
            client_ip(
                Some("10.0.0.1".parse().unwrap()),
                &headers(&["junk"]),
                &trusted
            ),
            Some("10.0.0.1".parse().unwrap())
        );
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                HeaderName::from_static("forwarded"),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn forwarded_header_is_walked_like_x_forwarded_for() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = Some("10.0.0.1".parse().unwrap());
        // RFC 7239 §7.1's forms: ports, quoted IPv6, several elements and headers.
        let h = forwarded(&[
            "for=6.6.6.6;proto=http, for=\"[2001:db8:cafe::17]:4711\"",
            "for=10.0.0.2;proto=https;host=id.example.com",
        ]);
        assert_eq!(
            client_ip(proxy, &h, &trusted),
            Some("2001:db8:cafe::17".parse().unwrap())
        );
        let h = forwarded(&["for=\"198.51.100.7:47011\";by=10.0.0.2"]);
        assert_eq!(
            client_ip(proxy, &h, &trusted),
            Some("198.51.100.7".parse().unwrap())
        );
        // Case-insensitive names, spaces around separators.
        let h = forwarded(&["For=192.0.2.60 ; Proto=https"]);
        assert_eq!(
            client_ip(proxy, &h, &trusted),
            Some("192.0.2.60".parse().unwrap())
        );
        // From an untrusted peer it is ignored.
        assert_eq!(
            client_ip(Some("203.0.113.9".parse().unwrap()), &h, &trusted),
            Some("203.0.113.9".parse().unwrap())
        );
        // `Forwarded` wins over `X-Forwarded-For` when both are sent.
        let mut both = forwarded(&["for=192.0.2.60"]);
        both.append(
            HeaderName::from_static("x-forwarded-for"),
            HeaderValue::from_static("198.51.100.1"),
        );
        assert_eq!(
            client_ip(proxy, &both, &trusted),
            Some("192.0.2.60".parse().unwrap())
        );
    }

    #[test]
    fn a_forwarded_header_without_an_address_is_not_believed() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy = Some("10.0.0.1".parse().unwrap());
        for bad in [
            "for=unknown",
            "for=_hidden",
            "proto=https",
            "for=\"[2001:db8::1\"",
            "for=\"unterminated",
            "for=1.2.3.4 junk",
            "for=[2001:db8::1]x",
        ] {
            assert_eq!(
                client_ip(proxy, &forwarded(&[bad]), &trusted),
                proxy,
                "{bad}"
            );
        }
    }

    #[test]
    fn forwarded_origin_comes_from_the_nearest_trusted_proxy_only() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = forwarded(&[
            "for=1.2.3.4;proto=http;host=evil.example, for=5.6.7.8;proto=https;host=\"id.example.com:443\"",
        ]);
        assert_eq!(
            forwarded_origin(Some("10.0.0.1".parse().unwrap()), &h, &trusted),
            (Some("https".into()), Some("id.example.com:443".into()))
        );
        assert_eq!(
            forwarded_origin(Some("203.0.113.9".parse().unwrap()), &h, &trusted),
            (None, None)
        );
    }
}
