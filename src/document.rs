//! A public document served as is (discovery, JWKS): its bytes, shared rather than copied per
//! request, and a strong `ETag` computed once, so a relying party that revalidates its cached copy
//! with `If-None-Match` gets a `304 Not Modified` without the body.

use base64::Engine;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone)]
pub struct PublicDocument {
    pub body: bytes::Bytes,
    /// `"…"`: the first 128 bits of the body's SHA-256, base64url. It changes whenever the body
    /// does (a key added or retired, an endpoint advertised), and is the same on every node.
    pub etag: String,
}

impl PublicDocument {
    pub fn new(body: Vec<u8>) -> Self {
        let digest = Sha256::digest(&body);
        let tag = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16]);
        Self {
            body: body.into(),
            etag: format!("\"{tag}\""),
        }
    }

    /// Whether an `If-None-Match` header value names this document (RFC 9110 §13.1.2: `*`, or a
    /// list of entity tags compared weakly, so `W/"x"` matches `"x"`).
    pub fn matches(&self, if_none_match: &str) -> bool {
        if_none_match.trim() == "*"
            || if_none_match
                .split(',')
                .map(|tag| tag.trim())
                .map(|tag| tag.strip_prefix("W/").unwrap_or(tag))
                .any(|tag| tag == self.etag)
    }
}

#[cfg(test)]
mod tests {
    use super::PublicDocument;

    #[test]
    fn if_none_match_names_the_document_by_its_tag() {
        let doc = PublicDocument::new(b"{\"keys\":[]}".to_vec());
        let other = PublicDocument::new(b"{\"keys\":[1]}".to_vec());
        assert_ne!(doc.etag, other.etag);
        assert!(doc.etag.starts_with('"') && doc.etag.ends_with('"'));
        assert!(doc.matches(&doc.etag));
        assert!(doc.matches(&format!("W/{}", doc.etag)));
        assert!(doc.matches(&format!("\"x\", {} ", doc.etag)));
        assert!(doc.matches("*"));
        assert!(!doc.matches(&other.etag));
        assert!(!doc.matches(""));
        assert!(!doc.matches(doc.etag.trim_matches('"')));
    }
}
