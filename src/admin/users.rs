//! Managing an organization's users: list and search, create, change (at a version), delete,
//! set a password, unlock, reset second factors, end every session. Each change runs in one
//! transaction with its audit entry ([`super::audit`]).
//!
//! What ends a user's sessions and revokes everything issued to them: disabling, a new
//! password, deletion, and the explicit "end sessions". Resetting second factors does not (the
//! sessions were opened with the factors the user had then); an operator who suspects a stolen
//! phone ends the sessions too.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::audit::{self, Change};
use super::{Actor, AdminError, Expected};
use crate::authn::policy;
use crate::domain::{Email, PhoneNumber, Username};
use crate::events::AccountChangeKind::{
    BackupCodesRemoved, CredentialRemoved, MobileNumberChanged,
};
use crate::events::Origin;
use crate::events::{SignInEvent, Subject, account_changed};
use crate::secret::Secret;
use crate::store::credentials::Credential;
use crate::store::users::{Profile, User, UserFilter};
use crate::store::{
    DbConn, StoreError, auth, backup_codes, format_rfc3339, now, write_transaction,
};

/// A user as a listing shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserSummary {
    /// The `sub` of the user's tokens; never changes.
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    /// E.164.
    pub phone_number: Option<String>,
    pub phone_number_verified: bool,
    pub disabled: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub updated_at: String,
    /// Raised by every change; the `ETag` of the user's resource.
    pub version: i64,
}

/// A user with what an operator helping them needs to see. Secrets (the password hash, the
/// factors' keys) are never shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub summary: UserSummary,
    /// The standard profile claims (OIDC Core §5.1).
    #[schema(value_type = Object)]
    pub profile: Profile,
    pub has_password: bool,
    /// Until when some client (or every client) is locked out of the account, RFC 3339.
    pub locked_until: Option<String>,
    pub backup_codes_remaining: i64,
    /// The second factors enrolled besides the mobile number and backup codes.
    pub credentials: Vec<CredentialSummary>,
}

/// An enrolled credential of a plug-in factor (an authenticator app, a passkey).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CredentialSummary {
    pub id: String,
    /// The factor (`totp`, `passkey`, …).
    pub factor: String,
    pub name: String,
    pub confirmed: bool,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// One page of a listing and where the next begins.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub items: Vec<UserSummary>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<String>,
}

/// A new user. The password, if any, arrives hashed: hashing is the caller's (it runs on the
/// hashing pool, not inside a transaction).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// 1-128 characters, no spaces or control characters; kept lower-case.
    #[schema(min_length = 1, max_length = 128)]
    pub username: String,
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    /// E.164, or a national number with its country code (`+44 7400 900123`).
    pub phone_number: Option<String>,
    #[serde(default)]
    pub phone_number_verified: bool,
    /// Write-only; at least 8 characters.
    #[schema(write_only, value_type = Option<String>, min_length = 8)]
    pub password: Option<Secret<String>>,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub profile: Profile,
}

/// A change to a user (JSON merge patch, RFC 7396): fields absent stay as they are; `null`
/// clears the email, the mobile number or a profile claim (`profile` is merged claim by
/// claim) and is refused where there is nothing to clear. A changed email or number is
/// unverified unless the patch says otherwise.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub username: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    pub email_verified: Option<Option<bool>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone_number: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    pub phone_number_verified: Option<Option<bool>>,
    /// Disabling ends every session and revokes everything issued to the user.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<bool>)]
    pub disabled: Option<Option<bool>>,
    /// Profile claims to set; a claim set to `null` is removed.
    #[schema(value_type = Option<Object>)]
    pub profile: Option<serde_json::Map<String, Value>>,
}

/// A field given (possibly `null`) as `Some`, an absent one as `None` (with `#[serde(default)]`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// The largest page.
pub const MAX_PAGE: i64 = 200;

pub fn list(
    conn: &mut DbConn,
    organization_id: i64,
    filter: &UserFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<UserPage, AdminError> {
    let limit = limit.clamp(1, MAX_PAGE);
    let mut rows = User::page(conn, organization_id, filter, after, limit + 1)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = more
        .then(|| rows.last().map(|(u, _)| u.username.as_str().to_string()))
        .flatten();
    Ok(UserPage {
        items: rows.iter().map(|(u, v)| summary(u, *v)).collect(),
        next,
    })
}

pub fn get(conn: &mut DbConn, organization_id: i64, id: &str) -> Result<UserDetail, AdminError> {
    let (user, version) = find(conn, organization_id, id)?;
    Ok(detail(conn, &user, version)?)
}

pub fn create(
    conn: &mut DbConn,
    origin: Origin<'_>,
    actor: &Actor,
    new: NewUser,
    password_hash: Option<String>,
) -> Result<UserDetail, AdminError> {
    let username =
        Username::parse(&new.username).map_err(|e| AdminError::invalid("username", e))?;
    let t = now();
    let user = User {
        id: User::new_id(),
        organization_id: origin.organization_id,
        username,
        email: parse_email(new.email.as_deref())?,
        email_verified: new.email.is_some() && new.email_verified,
        phone_number: parse_phone(new.phone_number.as_deref())?,
        phone_number_verified: new.phone_number.is_some() && new.phone_number_verified,
        profile: new.profile,
        password_hash,
        disabled: new.disabled,
        created_at: t,
        updated_at: t,
    };
    write_transaction(conn, |conn| {
        if User::find_by_username(conn, origin.organization_id, &user.username)?.is_some() {
            return Ok(Err(taken(&user.username)));
        }
        User::insert(conn, &user)?;
        let shown = detail(conn, &user, 1)?;
        audit::record(
            conn,
            origin,
            actor,
            Change {
                action: "user.create",
                entity: "user",
                entity_id: &user.id,
                before: None,
                after: Some(audit_value(&shown, &user)),
            },
        )?;
        Ok(Ok(shown))
    })?
}

/// Applies `patch` to the user if it is still at a version `expected` allows (the `ETag` the
/// caller read).
pub fn update(
    conn: &mut DbConn,
    origin: Origin<'_>,
    actor: &Actor,
    id: &str,
    expected: &Expected,
    patch: UserPatch,
) -> Result<UserDetail, AdminError> {
    write_transaction(conn, |conn| {
        let (old, current) = match find(conn, origin.organization_id, id) {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        if !expected.allows(current) {
            return Ok(Err(stale(current)));
        }
        let mut user = old.clone();
        if let Err(e) = apply(&mut user, patch) {
            return Ok(Err(e));
        }
        if user.username != old.username
            && User::find_by_username(conn, origin.organization_id, &user.username)?.is_some()
        {
            return Ok(Err(taken(&user.username)));
        }
        if !User::update_at_version(conn, &user, current)? {
            return Ok(Err(stale(current)));
        }
        if user.disabled && !old.disabled {
            auth::sign_out_everywhere(conn, &user.id)?;
        }
        if user.phone_number != old.phone_number {
            let detail = match &user.phone_number {
                Some(number) => format!("{}, by an administrator", number.masked()),
                None => "removed by an administrator".to_string(),
            };
            account_changed(conn, origin, &user.id, MobileNumberChanged, &detail)?;
        }
        if user.username != old.username {
            // Failures are counted by username: the old name's go, so no one who takes that
            // name later inherits them.
            policy::unlock_account(conn, origin.organization_id, old.username.as_str(), now())?;
        }
        let before = detail(conn, &old, current)?;
        let (user, version) = refound(conn, origin.organization_id, id)?;
        let after = detail(conn, &user, version)?;
        audit::record(
            conn,
            origin,
            actor,
            Change {
                action: "user.update",
                entity: "user",
                entity_id: &user.id,
                before: Some(audit_value(&before, &old)),
                after: Some(audit_value(&after, &user)),
            },
        )?;
        Ok(Ok(after))
    })?
}

/// Sets the user's password (already hashed); ends every session and revokes everything
/// issued, as a password change must.
pub fn set_password(
    conn: &mut DbConn,
    origin: Origin<'_>,
    actor: &Actor,
    id: &str,
    expected: &Expected,
    password_hash: String,
) -> Result<UserDetail, AdminError> {
    action(
        conn,
        origin,
        actor,
        id,
        expected,
        "user.set_password",
        |conn, user| {
            User::set_password_hash(conn, &user.id, &password_hash)?;
            auth::sign_out_everywhere(conn, &user.id)
        },
    )
}

/// Ends every lock on the account and forgets its failed attempts; a lock that was running
/// is reported as ended (`unlockUser`), as one that runs out is.
pub fn unlock(
    conn: &mut DbConn,
    origin: Origin<'_>,
    actor: &Actor,
    id: &str,
    expected: &Expected,
) -> Result<UserDetail, AdminError> {
    action(
        conn,
        origin,
        actor,
        id,
        expected,
        "user.unlock",
        |conn, user| {
            let ended =
                policy::unlock_account(conn, user.organization_id, user.username.as_str(), now())?;
            if let Some(until) = ended {
                let subject = Subject {
                    user_id: &user.id,
                    username: user.username.as_str(),
                };
                SignInEvent::Unlocked { until }
                    .publish(origin, subject)
                    .store(conn)?;
            }
            Ok(())
        },
    )
}

/// Removes every second factor: the mobile number, the backup codes and every enrolled
/// credential. The next sign-in that needs a second factor has the user enroll again where
/// the organization lets them, or stops with a page that says whom to ask.
pub fn reset_factors(
    conn: &mut DbConn,
    origin: Origin<'_>,
    actor: &Actor,
    id: &str,
    expected: &Expected,
) -> Result<UserDetail, AdminError> {
    action(
        conn,
        origin,
        actor,
        id,
        expected,
        "user.reset_factors",
        |conn, user| {
            // Each removal is an account change the user sees and subscribers hear of, as when
            // the user makes it.
            let by_admin = "by an administrator";
            if user.phone_number.is_some() {
                User::set_phone_number(conn, &user.id, None, false)?;
                account_changed(conn, origin, &user.id, MobileNumberChanged, by_admin)?;
            }
            if backup_codes::remaining(conn, &user.id)? > 0 {
                backup_codes::remove(conn, &user.id)?;
                account_changed(conn, origin, &user.id, BackupCodesRemoved, by_admin)?;
            }
            for factor in Credential::remove_all(conn, &user.id)? {
                let detail = format!("{factor}, {by_admin}");
                account_changed(conn, origin, &user.id, CredentialRemoved, &detail)?;
            }
            Ok(())
        },
    )
}

/// Ends every session of the user and revokes every grant (refresh and access tokens).
pub fn end_sessions(
    conn: &mut DbConn,
    origin: Origin<'_>,
    actor: &Actor,
    id: &str,
    expected: &Expected,
) -> Result<UserDetail, AdminError> {
    action(
        conn,
        origin,
        actor,
        id,
        expected,
        "user.end_sessions",
        |conn, user| auth::sign_out_everywhere(conn, &user.id),
    )
}

/// Deletes the user with everything that hangs on it (sessions, grants and their tokens,
/// factors, consents, failed attempts) and any administrative role it held.
pub fn delete(
    conn: &mut DbConn,
    origin: Origin<'_>,
    actor: &Actor,
    id: &str,
    expected: &Expected,
) -> Result<(), AdminError> {
    write_transaction(conn, |conn| {
        let (user, current) = match find(conn, origin.organization_id, id) {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        if !expected.allows(current) {
            return Ok(Err(stale(current)));
        }
        let before = detail(conn, &user, current)?;
        crate::store::admin::RoleGrant::remove_all(conn, &super::Principal::user(&user.id))?;
        policy::unlock_account(conn, origin.organization_id, user.username.as_str(), now())?;
        User::delete(conn, origin.organization_id, &user.id)?;
        audit::record(
            conn,
            origin,
            actor,
            Change {
                action: "user.delete",
                entity: "user",
                entity_id: &user.id,
                before: Some(audit_value(&before, &user)),
                after: None,
            },
        )?;
        Ok(Ok(()))
    })?
}

/// Runs `change` on the user in one transaction with its audit entry, whose diff is of the
/// user as shown before and after.
/// The user's version must be one `expected` allows (`If-Match`). `change` writes only the columns
/// it changes, so a change committed meanwhile by another transaction is not written over.
fn action(
    conn: &mut DbConn,
    origin: Origin<'_>,
    actor: &Actor,
    id: &str,
    expected: &Expected,
    name: &str,
    change: impl FnOnce(&mut DbConn, &User) -> Result<(), StoreError>,
) -> Result<UserDetail, AdminError> {
    write_transaction(conn, |conn| {
        let (user, current) = match find(conn, origin.organization_id, id) {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
        if !expected.allows(current) {
            return Ok(Err(stale(current)));
        }
        let before = audit_value(&detail(conn, &user, current)?, &user);
        change(conn, &user)?;
        let (user, version) = refound(conn, origin.organization_id, id)?;
        let shown = detail(conn, &user, version)?;
        let after = audit_value(&shown, &user);
        audit::record(
            conn,
            origin,
            actor,
            Change {
                action: name,
                entity: "user",
                entity_id: &user.id,
                before: Some(before),
                after: Some(after),
            },
        )?;
        Ok(Ok(shown))
    })?
}

/// The user `id` of the organization, with its version. An id that is not a UUID is no user's
/// (and never reaches the database, which may refuse its bytes).
fn find(conn: &mut DbConn, organization_id: i64, id: &str) -> Result<(User, i64), AdminError> {
    let found = match uuid::Uuid::parse_str(id) {
        Ok(_) => User::find_versioned(conn, organization_id, id)?,
        Err(_) => None,
    };
    found
        .ok_or_else(|| AdminError::NotFound(format!("no user with id '{id}' in this organization")))
}

/// The user just changed in this transaction, read again.
fn refound(conn: &mut DbConn, organization_id: i64, id: &str) -> Result<(User, i64), StoreError> {
    User::find_versioned(conn, organization_id, id)?
        .ok_or_else(|| StoreError::Corrupt("a user vanished in its own transaction".into()))
}

fn stale(current: i64) -> AdminError {
    AdminError::Stale(format!(
        "the user has changed since you read it (it is at version {current} now): read it again and retry"
    ))
}

fn taken(username: &Username) -> AdminError {
    AdminError::Conflict(format!(
        "the username '{username}' is taken in this organization"
    ))
}

fn parse_email(email: Option<&str>) -> Result<Option<Email>, AdminError> {
    email
        .map(Email::parse)
        .transpose()
        .map_err(|e| AdminError::invalid("email", e))
}

fn parse_phone(phone: Option<&str>) -> Result<Option<PhoneNumber>, AdminError> {
    phone
        .map(PhoneNumber::parse)
        .transpose()
        .map_err(|e| AdminError::invalid("phone_number", e))
}

fn apply(user: &mut User, patch: UserPatch) -> Result<(), AdminError> {
    let required = |field: &str| AdminError::invalid(field, "cannot be null");
    if let Some(name) = patch.username {
        let name = name.ok_or_else(|| required("username"))?;
        user.username = Username::parse(&name).map_err(|e| AdminError::invalid("username", e))?;
    }
    if let Some(email) = patch.email {
        let email = parse_email(email.as_deref())?;
        if email != user.email {
            user.email_verified = false;
        }
        user.email = email;
    }
    if let Some(verified) = patch.email_verified {
        let verified = verified.ok_or_else(|| required("email_verified"))?;
        if verified && user.email.is_none() {
            return Err(AdminError::invalid(
                "email_verified",
                "there is no email to verify",
            ));
        }
        user.email_verified = verified;
    }
    if let Some(phone) = patch.phone_number {
        let phone = parse_phone(phone.as_deref())?;
        if phone != user.phone_number {
            user.phone_number_verified = false;
        }
        user.phone_number = phone;
    }
    if let Some(verified) = patch.phone_number_verified {
        let verified = verified.ok_or_else(|| required("phone_number_verified"))?;
        if verified && user.phone_number.is_none() {
            return Err(AdminError::invalid(
                "phone_number_verified",
                "there is no mobile number to verify",
            ));
        }
        user.phone_number_verified = verified;
    }
    if let Some(disabled) = patch.disabled {
        user.disabled = disabled.ok_or_else(|| required("disabled"))?;
    }
    if let Some(changes) = patch.profile {
        let mut profile = serde_json::to_value(&user.profile).expect("a profile serializes");
        for (claim, value) in changes {
            let fields = profile.as_object_mut().expect("a profile is an object");
            if value.is_null() {
                fields.remove(&claim);
            } else {
                fields.insert(claim, value);
            }
        }
        user.profile = serde_json::from_value(profile).map_err(|e| {
            AdminError::invalid("profile", format!("not a profile of standard claims: {e}"))
        })?;
    }
    Ok(())
}

fn summary(user: &User, version: i64) -> UserSummary {
    UserSummary {
        id: user.id.clone(),
        username: user.username.as_str().to_string(),
        email: user.email.as_ref().map(|e| e.as_str().to_string()),
        email_verified: user.email_verified,
        phone_number: user.phone_number.as_ref().map(|p| p.as_str().to_string()),
        phone_number_verified: user.phone_number_verified,
        disabled: user.disabled,
        created_at: format_rfc3339(user.created_at),
        updated_at: format_rfc3339(user.updated_at),
        version,
    }
}

fn detail(conn: &mut DbConn, user: &User, version: i64) -> Result<UserDetail, StoreError> {
    let t = now();
    let locked_until =
        policy::account_locked_until(conn, user.organization_id, user.username.as_str(), t)?;
    Ok(UserDetail {
        summary: summary(user, version),
        profile: user.profile.clone(),
        has_password: user.password_hash.is_some(),
        locked_until: locked_until.map(format_rfc3339),
        backup_codes_remaining: backup_codes::remaining(conn, &user.id)?,
        credentials: Credential::of_user(conn, &user.id)?
            .into_iter()
            .map(|c| CredentialSummary {
                id: c.id,
                factor: c.factor,
                name: c.name,
                confirmed: c.confirmed_at.is_some(),
                created_at: format_rfc3339(c.created_at),
                last_used_at: c.last_used_at.map(format_rfc3339),
            })
            .collect(),
    })
}

/// The user as the audit log records it (see [`audit_value`]).
pub fn audited(conn: &mut DbConn, user: &User) -> Result<Value, StoreError> {
    Ok(audit_value(&detail(conn, user, 0)?, user))
}

/// The user as shown, without what changes on its own (the version, `updated_at`), with the
/// password hash: the diff redacts it, so the log says that the password changed, never what
/// it is.
fn audit_value(shown: &UserDetail, user: &User) -> Value {
    let mut value = serde_json::to_value(shown).expect("a user serializes");
    if let Some(fields) = value.as_object_mut() {
        fields.remove("version");
        fields.remove("updated_at");
        fields.insert("password_hash".into(), user.password_hash.clone().into());
    }
    value
}
