//! Federated first steps: the organization's upstream OpenID providers (`federated:<name>`)
//! and how their claims map onto a local user.
//!
//! Sesame is the relying party (code flow, PKCE S256, state and nonce, the ID token verified by
//! the `openidconnect` crate; see `authn::upstream`). Accounts are linked by the upstream
//! issuer and subject. The upstream `phone_number` becomes the user's number for SMS OTP only
//! when the provider says it is verified, only when the user is created or first linked, and
//! never over a verified number: otherwise whoever controls the upstream account would choose
//! where the second factor goes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::{Email, Username};
use crate::plugin::SecretRef;
use crate::secret::sha256_hex;
use crate::store::federation::FederatedIdentity;
use crate::store::now;
use crate::store::users::{Profile, User};

const DISCOVERY_SUFFIX: &str = "/.well-known/openid-configuration";

/// One upstream provider of an organization (`[[organizations.identity_providers]]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProvider {
    /// The name flows use: `federated:<name>`.
    pub name: String,
    /// The button's label ("Sign in with …"); the name when absent.
    pub display_name: Option<String>,
    /// The provider's discovery document (`…/.well-known/openid-configuration`), or its issuer.
    pub discovery_url: String,
    pub client_id: String,
    pub client_secret: SecretRef,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub claim_mapping: ClaimMapping,
    /// Create a local user on the first sign-in of an unknown upstream account.
    #[serde(default)]
    pub create_users: bool,
    /// Link an unknown upstream account to the local user with the same email, when both sides
    /// say the address is verified. Off by default: it trusts the provider's verification.
    #[serde(default)]
    pub link_by_verified_email: bool,
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email", "phone"]
        .map(String::from)
        .to_vec()
}

/// Which upstream claim fills each local attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimMapping {
    pub username: String,
    pub email: String,
    pub email_verified: String,
    pub phone_number: String,
    pub phone_number_verified: String,
    pub name: String,
    pub given_name: String,
    pub family_name: String,
}

impl Default for ClaimMapping {
    fn default() -> Self {
        Self {
            username: "preferred_username".into(),
            email: "email".into(),
            email_verified: "email_verified".into(),
            phone_number: "phone_number".into(),
            phone_number_verified: "phone_number_verified".into(),
            name: "name".into(),
            given_name: "given_name".into(),
            family_name: "family_name".into(),
        }
    }
}

/// What an upstream sign-in says about the user, after the mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapped {
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
}

impl IdentityProvider {
    /// The issuer the discovery document must name (the URL without the well-known suffix).
    pub fn issuer(&self) -> &str {
        self.discovery_url
            .strip_suffix(DISCOVERY_SUFFIX)
            .unwrap_or(&self.discovery_url)
    }

    pub fn label(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.name)
    }

    /// Checks the entry; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(format!(
                "name: '{}' must be 1-64 letters, digits, '-' or '_'",
                self.name
            ));
        }
        let url = url::Url::parse(&self.discovery_url)
            .map_err(|e| format!("discovery_url: '{}' is not a URL ({e})", self.discovery_url))?;
        if !matches!(url.scheme(), "https" | "http") || url.query().is_some() {
            return Err(format!(
                "discovery_url: '{}' must be an http(s) URL without a query",
                self.discovery_url
            ));
        }
        if self.client_id.trim().is_empty() {
            return Err("client_id: must not be empty".into());
        }
        self.client_secret
            .resolve()
            .map_err(|e| format!("client_secret: {e}"))?;
        if !self.scopes.iter().any(|s| s == "openid") {
            return Err("scopes: must include openid".into());
        }
        if let Some(bad) = self.scopes.iter().find(|s| s.is_empty() || s.contains(' ')) {
            return Err(format!("scopes: '{bad}' is not a scope"));
        }
        Ok(())
    }

    /// Applies the claim mapping to the upstream claims (ID token and UserInfo, merged).
    pub fn map(&self, claims: &Map<String, Value>) -> Mapped {
        let m = &self.claim_mapping;
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        // Some providers send booleans as strings; anything else is "not verified".
        let flag = |name: &str| match claims.get(name) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        Mapped {
            username: text(&m.username),
            email: text(&m.email),
            email_verified: flag(&m.email_verified),
            phone_number: text(&m.phone_number),
            phone_number_verified: flag(&m.phone_number_verified),
            name: text(&m.name),
            given_name: text(&m.given_name),
            family_name: text(&m.family_name),
        }
    }
}

/// Whether the upstream claims are all the provider has: `Partial` when its UserInfo failed and
/// only the ID token's claims are known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamProfile {
    Whole,
    Partial,
}

/// What became of an upstream account here.
#[derive(Debug)]
pub enum Linked {
    User(Box<User>),
    NoAccount,
    /// A new user would have been made from a partial profile (UserInfo failed): nothing was
    /// written, so the next try makes the user whole.
    ProfileUnavailable,
    /// The account belongs to someone other than the user this sign-in is for (a step-up or
    /// an account check): nothing was changed.
    Another,
    /// A disabled account: nothing was linked or changed.
    Disabled,
}

/// Finds the local user of an upstream account (`(issuer, subject)`), linking or creating one as
/// the provider's settings allow. Nothing is written for a sign-in that belongs to another user
/// (`tx_user`) or for a disabled account. When a user is created, or linked for the first time
/// (no other upstream account of theirs linked before), a verified upstream phone number becomes
/// their number if they have no verified one — recorded as an account change and published like
/// one made in the account area; never later, and never over a verified number.
pub fn link(
    conn: &mut crate::store::DbConn,
    origin: crate::events::Origin<'_>,
    provider: &IdentityProvider,
    (issuer, subject): (&str, &str),
    (mapped, profile): (&Mapped, UpstreamProfile),
    tx_user: Option<&str>,
) -> Result<Linked, crate::store::StoreError> {
    let org_id = origin.organization_id;
    if subject.is_empty() {
        return Ok(Linked::NoAccount);
    }
    let for_other = |id: &str| tx_user.is_some_and(|t| t != id);
    if let Some(known) = FederatedIdentity::find(conn, org_id, issuer, subject)? {
        if for_other(&known.user_id) {
            return Ok(Linked::Another);
        }
        FederatedIdentity::touch(conn, org_id, issuer, subject)?;
        return Ok(match User::find(conn, org_id, &known.user_id)? {
            Some(u) => Linked::User(Box::new(u)),
            None => Linked::NoAccount,
        });
    }
    let by_email = if provider.link_by_verified_email && mapped.email_verified {
        match mapped.email.as_deref().map(Email::parse) {
            Some(Ok(email)) => {
                let mut found = User::find_by_verified_email(conn, org_id, &email)?;
                if found.len() == 1 { found.pop() } else { None }
            }
            _ => None,
        }
    } else {
        None
    };
    let t = now();
    let (mut user, created) = match by_email {
        Some(u) if for_other(&u.id) => return Ok(Linked::Another),
        Some(u) if u.disabled => return Ok(Linked::Disabled),
        Some(u) => (u, false),
        // A sign-in for a known user never creates another one.
        None if tx_user.is_some() => return Ok(Linked::Another),
        None if provider.create_users && profile == UpstreamProfile::Partial => {
            return Ok(Linked::ProfileUnavailable);
        }
        None if provider.create_users => (
            new_user(conn, org_id, provider, (issuer, subject), mapped)?,
            true,
        ),
        None => return Ok(Linked::NoAccount),
    };
    let first_link = created || FederatedIdentity::count_of_user(conn, &user.id)? == 0;
    let verified_phone = mapped
        .phone_number
        .as_deref()
        .filter(|_| mapped.phone_number_verified)
        // By the numbering plan: an invalid or premium-rate number is not taken.
        .and_then(|p| super::sms_limits::normalize(p).ok());
    let takes_phone = first_link && verified_phone.is_some() && !user.phone_number_verified;
    if takes_phone {
        user.phone_number = verified_phone;
        user.phone_number_verified = true;
    }
    if created {
        User::insert(conn, &user)?;
    } else if takes_phone {
        User::set_phone_number(conn, &user.id, user.phone_number.as_ref(), true)?;
    }
    if let Some(number) = user.phone_number.as_ref().filter(|_| takes_phone) {
        crate::events::account_changed(
            conn,
            origin,
            &user.id,
            crate::events::AccountChangeKind::MobileNumberChanged,
            &format!("{} (from {})", number.masked(), provider.name),
        )?;
    }
    FederatedIdentity::insert(
        conn,
        &FederatedIdentity {
            organization_id: org_id,
            issuer: issuer.to_string(),
            subject: subject.to_string(),
            provider: provider.name.clone(),
            user_id: user.id.clone(),
            created_at: t,
            last_used_at: t,
        },
    )?;
    Ok(Linked::User(Box::new(user)))
}

/// A new local user for an upstream account: the mapped username when it is valid and free,
/// else `<provider>-<12 hex digits of the account's hash>`; the mapped email and names; no
/// password.
fn new_user(
    conn: &mut crate::store::DbConn,
    org_id: i64,
    provider: &IdentityProvider,
    (issuer, subject): (&str, &str),
    mapped: &Mapped,
) -> Result<User, crate::store::StoreError> {
    let wanted = mapped
        .username
        .as_deref()
        .and_then(|u| Username::parse(u).ok());
    let username = match wanted {
        Some(u) if User::find_by_username(conn, org_id, &u)?.is_none() => u,
        _ => {
            let digest = sha256_hex(format!("{issuer}\n{subject}"));
            Username::parse(&format!(
                "{}-{}",
                provider.name.to_lowercase(),
                &digest[..12]
            ))
            .map_err(crate::store::StoreError::Corrupt)?
        }
    };
    let email = mapped.email.as_deref().and_then(|e| Email::parse(e).ok());
    // Verified only as the provider says, and only while no other user holds the address
    // verified: two verified owners would make magic links and email linking ambiguous.
    let verified = match &email {
        Some(e) if mapped.email_verified => {
            User::find_by_verified_email(conn, org_id, e)?.is_empty()
        }
        _ => false,
    };
    let t = now();
    Ok(User {
        id: User::new_id(),
        organization_id: org_id,
        username,
        email_verified: verified,
        email,
        phone_number: None,
        phone_number_verified: false,
        profile: Profile {
            name: mapped.name.clone(),
            given_name: mapped.given_name.clone(),
            family_name: mapped.family_name.clone(),
            ..Profile::default()
        },
        password_hash: None,
        disabled: false,
        created_at: t,
        updated_at: t,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> IdentityProvider {
        IdentityProvider {
            name: "corp".into(),
            display_name: None,
            discovery_url: "https://idp.example/t/x/.well-known/openid-configuration".into(),
            client_id: "sesame".into(),
            client_secret: SecretRef {
                env: Some("PATH".into()),
                file: None,
                sealed: None,
            },
            scopes: default_scopes(),
            claim_mapping: ClaimMapping::default(),
            create_users: false,
            link_by_verified_email: false,
        }
    }

    #[test]
    fn the_issuer_is_the_discovery_url_without_its_suffix() {
        let p = provider();
        assert_eq!(p.issuer(), "https://idp.example/t/x");
        p.validate().unwrap();
        let mut bad = provider();
        bad.scopes = vec!["email".into()];
        assert!(bad.validate().unwrap_err().starts_with("scopes"));
    }

    #[test]
    fn the_mapping_reads_named_claims_and_only_true_flags() {
        let mut p = provider();
        p.claim_mapping.username = "upn".into();
        let claims = serde_json::json!({
            "upn": "dana",
            "email": "dana@corp.example",
            "email_verified": "true",
            "phone_number": "+44 7400 900999",
            "phone_number_verified": 1,
        });
        let m = p.map(claims.as_object().unwrap());
        assert_eq!(m.username.as_deref(), Some("dana"));
        assert!(m.email_verified);
        assert_eq!(m.phone_number.as_deref(), Some("+44 7400 900999"));
        assert!(!m.phone_number_verified, "only true or \"true\" count");
    }
}
