//! Organizations (tenants). The slug is the key in URLs and never changes once created.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::organizations;
use super::{DbConn, StoreError, now};
use crate::authn::policy::LockPolicy;
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
    /// One-time codes by email, the fallback beside SMS OTP (`email_otp` in flows).
    pub email_otp: crate::authn::sent_code::SentCodeSettings,
    pub backup_codes: crate::authn::backup::BackupCodeSettings,
    /// Where text messages go: the console (default) or the organization's gateways.
    pub sms: crate::plugin::SmsSettings,
    /// The `magic_link` first step: link lifetime and send limits.
    pub magic_link: crate::authn::magic_link::MagicLinkSettings,
    /// How email leaves (magic links): the console (default), files, or SMTP.
    pub mail: crate::mail::MailSettings,
    /// Upstream OpenID providers for `federated:<name>` first steps.
    pub identity_providers: Vec<crate::authn::federation::IdentityProvider>,
    /// Who may enroll the plug-in factors (authenticator apps) themselves, and where.
    pub enrollment: crate::authn::credentials::EnrollmentSettings,
    /// Settings of plug-in factors checked by a typed code, by factor name
    /// (`[organizations.factors.totp]`), checked by the plug-in at import.
    pub factors: std::collections::BTreeMap<String, serde_json::Value>,
    /// Brokers that receive the organization's events beside its webhooks
    /// (`[[organizations.event_sinks]]`).
    pub event_sinks: Vec<crate::events::sinks::SinkSettings>,
    /// What a password users choose must be (`[organizations.password_policy]`).
    pub password_policy: crate::password::policy::PasswordPolicy,
    /// "Forgot your password?" (`[organizations.password_reset]`).
    pub password_reset: crate::authn::reset::PasswordResetSettings,
    /// "Create an account" (`[organizations.registration]`): off by default.
    pub registration: crate::authn::registration::RegistrationSettings,
    /// The logo, colour and support link of the organization's pages.
    pub branding: crate::branding::BrandingSettings,
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

/// The settings of a factor that an organization leaves alone.
static NO_SETTINGS: serde_json::Value = serde_json::Value::Null;

impl OrgSettings {
    /// The organization's settings of the plug-in factor `name` (`Null` when it sets none).
    pub fn factor_settings(&self, name: &str) -> &serde_json::Value {
        self.factors.get(name).unwrap_or(&NO_SETTINGS)
    }

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

    /// The organization and its version, read in one statement (the version matches the row).
    pub fn find_versioned(
        conn: &mut DbConn,
        slug: &str,
    ) -> Result<Option<(Self, i64)>, StoreError> {
        Ok(organizations::table
            .filter(organizations::slug.eq(slug))
            .select((Self::as_select(), organizations::version))
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
                organizations::version.eq(organizations::version + 1),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// The organization's version, raised by every [`Self::update`]: the management API's ETag.
    pub fn version(conn: &mut DbConn, id: i64) -> Result<Option<i64>, StoreError> {
        Ok(organizations::table
            .find(id)
            .select(organizations::version)
            .first(conn)
            .optional()?)
    }

    /// Within a transaction, holds the organization for a change if its version is one of
    /// `versions` (compare and set): false when someone changed it since. The row stays
    /// locked until the transaction ends (SQLite's writers' lock; on PostgreSQL the row lock
    /// this update takes, so a concurrent change waits and then finds another version).
    pub fn claim(conn: &mut DbConn, id: i64, versions: &[i64]) -> Result<bool, StoreError> {
        let n = diesel::update(
            organizations::table
                .find(id)
                .filter(organizations::version.eq_any(versions)),
        )
        .set(organizations::version.eq(organizations::version))
        .execute(conn)?;
        Ok(n == 1)
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
