//! The client's IP address: the TCP peer, unless the peer is a trusted proxy, in which case the
//! nearest untrusted address in `X-Forwarded-For` (read right to left, as proxies append).
//! Believing the header from anyone would let a client pick its own address and dodge limits.

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
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return Some(peer);
        };
        for item in text.split(',') {
            match item.trim().parse::<IpAddr>() {
                Ok(ip) => hops.push(ip),
                // A malformed hop: stop believing the chain here.
                Err(_) => return Some(peer),
            }
        }
    }
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    Some(client)
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
}
