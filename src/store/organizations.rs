//! Organizations (tenants). The slug is the key in URLs and never changes once created.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::organizations;
use super::{DbConn, StoreError, now};
use crate::domain::OrgSlug;

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = organizations)]
pub struct Organization {
    /// A small integer, published as `organizationId` in events (Asgardeo's format).
    pub id: i64,
    pub slug: String,
    pub display_name: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[diesel(deserialize_as = String)]
    pub settings: OrgSettings,
}

/// Per-organization policies, stored as one JSON document. Missing fields take their defaults,
/// so adding a policy later needs no migration of existing rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrgSettings {
    pub lock_policy: LockPolicy,
    /// The APIs clients may ask access tokens for (RFC 8707 `resource`).
    pub resources: Vec<Resource>,
    /// SMS one-time passwords (the guide's defaults).
    pub sms_otp: crate::authn::otp::OtpSettings,
    pub backup_codes: crate::authn::backup::BackupCodeSettings,
    /// Where text messages go: the console (default) or the organization's gateways.
    pub sms: crate::plugin::SmsSettings,
    /// The `magic_link` first step: link lifetime and send limits.
    pub magic_link: crate::authn::magic_link::MagicLinkSettings,
    /// How email leaves (magic links): the console (default), files, or SMTP.
    pub mail: crate::mail::MailSettings,
    /// Upstream OpenID providers for `federated:<name>` first steps.
    pub identity_providers: Vec<crate::authn::federation::IdentityProvider>,
}

/// An API registered with the organization: its identifier becomes the access token's `aud`,
/// and it defines the scopes clients may ask for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// An absolute URI without a fragment (RFC 8707 §2).
    pub identifier: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl OrgSettings {
    pub fn identity_provider(
        &self,
        name: &str,
    ) -> Option<&crate::authn::federation::IdentityProvider> {
        self.identity_providers.iter().find(|p| p.name == name)
    }

    pub fn resource(&self, identifier: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.identifier == identifier)
    }
}

/// What repeated failed sign-ins do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockPolicy {
    /// Failed attempts on one account within `window_seconds` that lock it.
    pub max_attempts: i64,
    /// How long the first lock lasts.
    pub duration_seconds: i64,
    /// Each further lock lasts this many times longer than the previous one.
    pub growth_factor: i64,
    /// The longest a lock can last, however often it grew.
    pub max_duration_seconds: i64,
    /// Failures are counted within this window.
    pub window_seconds: i64,
    /// Failed attempts from one client IP within the window before that IP must wait.
    pub ip_max_failures: i64,
}

impl Default for LockPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            duration_seconds: 300,
            growth_factor: 2,
            max_duration_seconds: 86_400,
            window_seconds: 900,
            ip_max_failures: 50,
        }
    }
}

impl LockPolicy {
    /// Checks the bounds; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let check = |name: &str, v: i64, lo: i64, hi: i64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name}: {v} is out of range {lo}-{hi}"))
            }
        };
        check("max_attempts", self.max_attempts, 1, 100)?;
        check("duration_seconds", self.duration_seconds, 1, 86_400 * 30)?;
        check("growth_factor", self.growth_factor, 1, 10)?;
        check(
            "max_duration_seconds",
            self.max_duration_seconds,
            self.duration_seconds,
            86_400 * 365,
        )?;
        check("window_seconds", self.window_seconds, 1, 86_400)?;
        check("ip_max_failures", self.ip_max_failures, 1, 100_000)
    }

    /// The length of the `n`-th lock (0-based), grown and capped.
    pub fn lock_duration(&self, n: i64) -> i64 {
        let mut d = self.duration_seconds;
        for _ in 0..n.clamp(0, 64) {
            d = d.saturating_mul(self.growth_factor);
            if d >= self.max_duration_seconds {
                break;
            }
        }
        d.min(self.max_duration_seconds)
    }
}

impl TryFrom<String> for OrgSettings {
    type Error = serde_json::Error;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        serde_json::from_str(&text)
    }
}

impl Organization {
    pub fn slug_of(conn: &mut DbConn, id: i64) -> Result<Option<String>, StoreError> {
        Ok(organizations::table
            .find(id)
            .select(organizations::slug)
            .first(conn)
            .optional()?)
    }

    pub fn find_by_slug(conn: &mut DbConn, slug: &str) -> Result<Option<Self>, StoreError> {
        Ok(organizations::table
            .filter(organizations::slug.eq(slug))
            .select(Self::as_select())
            .first(conn)
            .optional()?)
    }

    pub fn list(conn: &mut DbConn) -> Result<Vec<Self>, StoreError> {
        Ok(organizations::table
            .order(organizations::id)
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Creates the organization; the database assigns its integer id.
    pub fn create(
        conn: &mut DbConn,
        slug: &OrgSlug,
        display_name: &str,
        settings: &OrgSettings,
    ) -> Result<Self, StoreError> {
        let t = now();
        diesel::insert_into(organizations::table)
            .values((
                organizations::slug.eq(slug.as_str()),
                organizations::display_name.eq(display_name),
                organizations::settings
                    .eq(serde_json::to_string(settings).expect("settings serialize")),
                organizations::created_at.eq(t),
                organizations::updated_at.eq(t),
            ))
            .execute(conn)?;
        Self::find_by_slug(conn, slug.as_str())?.ok_or_else(|| {
            StoreError::Corrupt(format!("organization {slug} vanished after insert"))
        })
    }

    /// Changes the display name and settings (the slug stays: issuers and tokens depend on it).
    pub fn update(
        conn: &mut DbConn,
        id: i64,
        display_name: &str,
        settings: &OrgSettings,
    ) -> Result<(), StoreError> {
        diesel::update(organizations::table.find(id))
            .set((
                organizations::display_name.eq(display_name),
                organizations::settings
                    .eq(serde_json::to_string(settings).expect("settings serialize")),
                organizations::updated_at.eq(now()),
            ))
            .execute(conn)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_durations_grow_and_cap() {
        let p = LockPolicy {
            duration_seconds: 60,
            growth_factor: 3,
            max_duration_seconds: 1000,
            ..LockPolicy::default()
        };
        assert_eq!(
            [
                p.lock_duration(0),
                p.lock_duration(1),
                p.lock_duration(2),
                p.lock_duration(3)
            ],
            [60, 180, 540, 1000]
        );
        assert!(
            LockPolicy {
                growth_factor: 0,
                ..LockPolicy::default()
            }
            .validate()
            .unwrap_err()
            .starts_with("growth_factor")
        );
        assert_eq!(
            OrgSettings::try_from("{}".to_string()).unwrap(),
            OrgSettings::default()
        );
    }
}
