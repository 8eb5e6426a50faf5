//! Newtypes that parse: once a value has one of these types it is known to be well-formed.

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

/// Defines a string newtype with a private field, a `parse`, `as_str`, `Display` and serde that
/// goes through `parse`.
macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(
    /// An organization's slug: the `{org}` in its issuer `{base}/t/{org}`. Lower-case letters,
    /// digits and inner hyphens, 1-63 characters. It never changes once created.
    OrgSlug
);

impl OrgSlug {
    pub fn parse(value: &str) -> Result<Self, String> {
        let ok_chars = value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if value.is_empty()
            || value.len() > 63
            || !ok_chars
            || value.starts_with('-')
            || value.ends_with('-')
        {
            return Err(format!(
                "'{value}' is not a valid organization slug: use 1-63 lower-case letters, digits and \
                 hyphens, not starting or ending with a hyphen"
            ));
        }
        Ok(Self(value.to_string()))
    }
}

string_newtype!(
    /// An OAuth client identifier: 1-128 visible ASCII characters without spaces (RFC 6749
    /// allows more, but these survive every URL and header unescaped).
    ClientId
);

impl ClientId {
    pub fn parse(value: &str) -> Result<Self, String> {
        let ok = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if value.is_empty() || value.len() > 128 || !ok {
            return Err(format!(
                "'{value}' is not a valid client id: use 1-128 letters, digits, '-', '.', '_' or '~'"
            ));
        }
        Ok(Self(value.to_string()))
    }
}

string_newtype!(
    /// A username, unique per organization. Stored lower-case and trimmed, so `Alice` and
    /// `alice` are the same account; 1-128 characters, no control characters or spaces.
    Username
);

impl Username {
    pub fn parse(value: &str) -> Result<Self, String> {
        let v = value.trim().to_lowercase();
        if v.is_empty()
            || v.chars().count() > 128
            || v.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(format!(
                "'{value}' is not a valid username: use 1-128 characters without spaces"
            ));
        }
        Ok(Self(v))
    }
}

string_newtype!(
    /// An email address, checked for shape only (one `@`, non-empty parts, no spaces); the domain
    /// is lower-cased. Whether it is deliverable is what `email_verified` says.
    Email
);

impl Email {
    pub fn parse(value: &str) -> Result<Self, String> {
        let v = value.trim();
        let bad = || format!("'{value}' is not a valid email address");
        let (local, domain) = v.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.is_empty()
            || !domain.contains('.')
            || v.len() > 254
            || v.chars().any(|c| c.is_whitespace() || c.is_control())
            || local.contains('@')
        {
            return Err(bad());
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    /// The address as a page may show it to someone who is not signed in yet: the first
    /// character of the mailbox and the whole domain (`j•••@example.com`), enough for the user
    /// to know which address, too little to learn it.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", &self.0));
        let first: String = local.chars().take(1).collect();
        format!("{first}•••@{domain}")
    }
}

string_newtype!(
    /// A mobile number in E.164: `+`, a country code not starting with 0, 8-15 digits in all.
    /// Spaces, dots, dashes and parentheses in the input are dropped.
    PhoneNumber
);

impl PhoneNumber {
    pub fn parse(value: &str) -> Result<Self, String> {
        let compact: String = value.chars().filter(|c| !" .-()".contains(*c)).collect();
        let digits = compact.strip_prefix('+').unwrap_or("");
        if digits.len() < 8
            || digits.len() > 15
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(format!(
                "'{value}' is not a mobile number in E.164 form (e.g. +14155550123)"
            ));
        }
        Ok(Self(compact))
    }

    /// The last four digits, for pages that must not show the whole number.
    pub fn masked(&self) -> String {
        let tail = &self.0[self.0.len() - 4..];
        format!("{}{tail}", "*".repeat(self.0.len() - 5))
    }
}

string_newtype!(
    /// A registered redirect URI: absolute, no fragment (RFC 6749 §3.1.2). Matched exactly, as a
    /// string, against the one in a request. `http` only for loopback hosts (RFC 8252 native
    /// apps and development), or any private-use scheme for native apps.
    RedirectUri
);

impl RedirectUri {
    pub fn parse(value: &str) -> Result<Self, String> {
        let url =
            Url::parse(value).map_err(|e| format!("'{value}' is not an absolute URI ({e})"))?;
        if url.fragment().is_some() {
            return Err(format!("'{value}' must not contain a fragment"));
        }
        match url.scheme() {
            "https" => {}
            "http" => {
                let host = url.host_str().unwrap_or("");
                if !(host == "localhost" || host == "127.0.0.1" || host == "[::1]") {
                    return Err(format!(
                        "'{value}' uses http on a non-loopback host; use https (http is allowed only for localhost)"
                    ));
                }
            }
            "javascript" | "data" | "file" | "vbscript" => {
                return Err(format!(
                    "'{value}' uses a scheme that cannot be a redirect target"
                ));
            }
            _ => {}
        }
        Ok(Self(value.to_string()))
    }
}

/// Whether an application can keep a secret (a server-side web app) or not (an SPA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    Confidential,
    Public,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confidential => "confidential",
            Self::Public => "public",
        }
    }

    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "confidential" => Ok(Self::Confidential),
            "public" => Ok(Self::Public),
            _ => Err(format!(
                "'{value}' is not a client type: use `confidential` or `public`"
            )),
        }
    }
}

/// The OAuth grant types an application may be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_addresses_keep_the_first_character_and_the_domain() {
        let e = Email::parse("jane.doe@Example.com").unwrap();
        assert_eq!(e.masked(), "j•••@example.com");
        let short = Email::parse("é@example.org").unwrap();
        assert_eq!(short.masked(), "é•••@example.org");
    }

    #[test]
    fn slugs() {
        for ok in ["demo", "acme-corp", "a", "x1"] {
            assert!(OrgSlug::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Demo", "-x", "x-", "a b", "a/b", &"a".repeat(64)] {
            assert!(OrgSlug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phone_numbers_are_e164() {
        assert_eq!(
            PhoneNumber::parse("+1 (415) 555-0123").unwrap().as_str(),
            "+14155550123"
        );
        assert_eq!(
            PhoneNumber::parse("+14155550123").unwrap().masked(),
            "*******0123"
        );
        for bad in [
            "14155550123",
            "+0123456789",
            "+1415",
            "+1415555012345678",
            "+1415abc0123",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_uris() {
        assert!(RedirectUri::parse("https://app.example/cb").is_ok());
        assert!(RedirectUri::parse("http://localhost:8080/cb").is_ok());
        assert!(RedirectUri::parse("com.example.app:/cb").is_ok());
        for bad in [
            "/relative",
            "https://app.example/cb#x",
            "http://app.example/cb",
            "javascript:alert(1)",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames_and_emails_normalize() {
        assert_eq!(Username::parse(" Alice ").unwrap().as_str(), "alice");
        assert!(Username::parse("a b").is_err());
        assert_eq!(
            Email::parse("Bob@Example.COM").unwrap().as_str(),
            "Bob@example.com"
        );
        for bad in ["bob", "bob@", "@x.com", "bob@localhost", "b ob@x.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_ids() {
        assert!(ClientId::parse("demo-web").is_ok());
        assert!(ClientId::parse("a b").is_err());
        assert!(ClientId::parse("").is_err());
    }
}
