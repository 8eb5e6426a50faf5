//! Users of an organization. `id` is a random UUID that becomes the `sub` claim: never the
//! username or email, which people change.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::schema::users;
use super::{DbConn, StoreError, now};
use crate::domain::{Email, PhoneNumber, Username};

/// The standard OIDC profile claims (OIDC Core §5.1) Sesame keeps for a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthdate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zoneinfo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

/// The `address` claim (OIDC Core §5.1.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub organization_id: i64,
    pub username: Username,
    pub email: Option<Email>,
    pub email_verified: bool,
    pub phone_number: Option<PhoneNumber>,
    pub phone_number_verified: bool,
    pub profile: Profile,
    /// An argon2id PHC string, or a hash imported from another system until the user's next
    /// sign-in replaces it (see `password::imported`); `None` for users who cannot sign in
    /// with a password.
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The stored row; visible to the store so an access token's check can read the user joined
/// with its grant (`auth::user_token_state`).
#[derive(Debug, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = users)]
#[diesel(treat_none_as_null = true)]
pub(crate) struct Row {
    id: String,
    organization_id: i64,
    username: String,
    email: Option<String>,
    email_verified: bool,
    phone_number: Option<String>,
    phone_number_verified: bool,
    profile: String,
    password_hash: Option<String>,
    disabled: bool,
    created_at: i64,
    updated_at: i64,
}

impl Row {
    pub(crate) fn into_user(self) -> Result<User, StoreError> {
        let corrupt = |what: &str, e: String| StoreError::Corrupt(format!("users.{what}: {e}"));
        Ok(User {
            username: Username::parse(&self.username).map_err(|e| corrupt("username", e))?,
            email: self
                .email
                .as_deref()
                .map(Email::parse)
                .transpose()
                .map_err(|e| corrupt("email", e))?,
            phone_number: self
                .phone_number
                .as_deref()
                .map(PhoneNumber::parse)
                .transpose()
                .map_err(|e| corrupt("phone_number", e))?,
            profile: serde_json::from_str(&self.profile)
                .map_err(|e| corrupt("profile", e.to_string()))?,
            id: self.id,
            organization_id: self.organization_id,
            email_verified: self.email_verified,
            phone_number_verified: self.phone_number_verified,
            password_hash: self.password_hash,
            disabled: self.disabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }

    fn from_user(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            organization_id: u.organization_id,
            username: u.username.as_str().to_string(),
            email: u.email.as_ref().map(|e| e.as_str().to_string()),
            email_verified: u.email_verified,
            phone_number: u.phone_number.as_ref().map(|p| p.as_str().to_string()),
            phone_number_verified: u.phone_number_verified,
            profile: serde_json::to_string(&u.profile).expect("profile serializes"),
            password_hash: u.password_hash.clone(),
            disabled: u.disabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        }
    }
}

impl User {
    /// A fresh user id: a random (v4) UUID.
    pub fn new_id() -> String {
        uuid::Uuid::new_v4().to_string()
    }

    pub fn find_by_username(
        conn: &mut DbConn,
        organization_id: i64,
        username: &Username,
    ) -> Result<Option<Self>, StoreError> {
        users::table
            .filter(users::organization_id.eq(organization_id))
            .filter(users::username.eq(username.as_str()))
            .select(Row::as_select())
            .first(conn)
            .optional()?
            .map(Row::into_user)
            .transpose()
    }

    pub fn find(
        conn: &mut DbConn,
        organization_id: i64,
        id: &str,
    ) -> Result<Option<Self>, StoreError> {
        users::table
            .filter(users::organization_id.eq(organization_id))
            .filter(users::id.eq(id))
            .select(Row::as_select())
            .first(conn)
            .optional()?
            .map(Row::into_user)
            .transpose()
    }

    /// Users whose verified email is `email` (normally one; more makes the address ambiguous,
    /// and callers then treat it as no match).
    pub fn find_by_verified_email(
        conn: &mut DbConn,
        organization_id: i64,
        email: &Email,
    ) -> Result<Vec<Self>, StoreError> {
        users::table
            .filter(users::organization_id.eq(organization_id))
            .filter(users::email.eq(email.as_str()))
            .filter(users::email_verified.eq(true))
            .select(Row::as_select())
            .limit(2)
            .load(conn)?
            .into_iter()
            .map(Row::into_user)
            .collect()
    }

    /// Whether a user of the organization holds `email` verified, the case of every letter
    /// ignored: a registration must not make a second account for a mailbox by changing case.
    pub fn verified_email_taken(
        conn: &mut DbConn,
        organization_id: i64,
        email: &str,
    ) -> Result<bool, StoreError> {
        Ok(users::table
            .filter(users::organization_id.eq(organization_id))
            .filter(users::email_verified.eq(true))
            .filter(lower_opt(users::email).eq(email.to_lowercase()))
            .select(users::id)
            .first::<String>(conn)
            .optional()?
            .is_some())
    }

    pub fn count(conn: &mut DbConn, organization_id: i64) -> Result<i64, StoreError> {
        Ok(users::table
            .filter(users::organization_id.eq(organization_id))
            .count()
            .get_result(conn)?)
    }

    pub fn insert(conn: &mut DbConn, user: &User) -> Result<(), StoreError> {
        diesel::insert_into(users::table)
            .values(Row::from_user(user))
            .execute(conn)?;
        Ok(())
    }

    /// Saves every field of an existing user and stamps `updated_at`. The id never changes.
    /// The second factor the user passed last (`sms_otp`, `totp`, …), if any.
    pub fn last_second_factor(conn: &mut DbConn, id: &str) -> Result<Option<String>, StoreError> {
        Ok(users::table
            .filter(users::id.eq(id))
            .select(users::last_second_factor)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten())
    }

    /// Records the second factor the user passed last; writes nothing when it is already that
    /// one (the usual case: one statement, no row written).
    pub fn set_last_second_factor(
        conn: &mut DbConn,
        id: &str,
        factor: &str,
    ) -> Result<(), StoreError> {
        diesel::update(
            users::table.filter(users::id.eq(id)).filter(
                users::last_second_factor
                    .is_null()
                    .or(users::last_second_factor.ne(factor)),
            ),
        )
        .set(users::last_second_factor.eq(factor))
        .execute(conn)?;
        Ok(())
    }

    pub fn update(conn: &mut DbConn, user: &User) -> Result<(), StoreError> {
        let mut row = Row::from_user(user);
        row.updated_at = now();
        diesel::update(users::table.find(&user.id))
            .set((&row, users::version.eq(users::version + 1)))
            .execute(conn)?;
        Ok(())
    }

    /// Sets the password hash alone (no other column is written back), raising the version.
    pub fn set_password_hash(conn: &mut DbConn, id: &str, hash: &str) -> Result<(), StoreError> {
        diesel::update(users::table.find(id))
            .set((
                users::password_hash.eq(Some(hash)),
                users::password_rehashed_from.eq(None::<String>),
                users::updated_at.eq(now()),
                users::version.eq(users::version + 1),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Replaces a hash imported from another system by its argon2id `rehash`, if the user still
    /// has `imported` (nobody set a password meanwhile), and keeps the SHA-256 of `imported` (see
    /// [`User::rehashed_from`]). Neither the version nor `updated_at` changes: the password is
    /// the same, and nothing an administrator reads differs.
    pub fn replace_imported_hash(
        conn: &mut DbConn,
        id: &str,
        imported: &str,
        rehash: &str,
    ) -> Result<bool, StoreError> {
        let n = diesel::update(
            users::table
                .find(id)
                .filter(users::password_hash.eq(imported)),
        )
        .set((
            users::password_hash.eq(Some(rehash)),
            users::password_rehashed_from.eq(Some(crate::secret::sha256_hex(imported))),
        ))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// Forgets which imported hash the current one replaced: a password was set another way.
    pub fn forget_rehash(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
        diesel::update(users::table.find(id))
            .set(users::password_rehashed_from.eq(None::<String>))
            .execute(conn)?;
        Ok(())
    }

    /// Locks the user's row until the transaction ends (PostgreSQL; SQLite's `BEGIN IMMEDIATE`
    /// already lets one writer in): a change to the user waits for it, or it for the change.
    pub fn lock_row(conn: &mut DbConn, id: &str) -> Result<(), StoreError> {
        if let DbConn::Postgres(c) = conn {
            diesel::sql_query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
                .bind::<diesel::sql_types::Text, _>(id)
                .execute(c)?;
        }
        Ok(())
    }

    /// The SHA-256 (hex) of the imported hash the user's current argon2id hash replaced, if it
    /// did and no password was set since: an import giving that hash again keeps the current one.
    pub fn rehashed_from(conn: &mut DbConn, id: &str) -> Result<Option<String>, StoreError> {
        Ok(users::table
            .find(id)
            .select(users::password_rehashed_from)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten())
    }

    /// Sets the mobile number alone (a number confirmed, taken from an upstream provider, or
    /// removed by a reset of second factors), raising the version: no other column is written
    /// back from a copy that may be older than a concurrent change (an administrator's).
    pub fn set_phone_number(
        conn: &mut DbConn,
        id: &str,
        number: Option<&PhoneNumber>,
        verified: bool,
    ) -> Result<(), StoreError> {
        diesel::update(users::table.find(id))
            .set((
                users::phone_number.eq(number.map(|n| n.as_str().to_string())),
                users::phone_number_verified.eq(verified),
                users::updated_at.eq(now()),
                users::version.eq(users::version + 1),
            ))
            .execute(conn)?;
        Ok(())
    }

    /// Saves every field of an existing user if it is still at `version` (compare and set);
    /// false when someone changed it meanwhile (or it is gone). Raises the version.
    pub fn update_at_version(
        conn: &mut DbConn,
        user: &User,
        version: i64,
    ) -> Result<bool, StoreError> {
        let mut row = Row::from_user(user);
        row.updated_at = now();
        let n = diesel::update(
            users::table
                .find(&user.id)
                .filter(users::version.eq(version)),
        )
        .set((&row, users::version.eq(users::version + 1)))
        .execute(conn)?;
        Ok(n == 1)
    }

    /// A user of the organization with its version (see [`User::update_at_version`]).
    pub fn find_versioned(
        conn: &mut DbConn,
        organization_id: i64,
        id: &str,
    ) -> Result<Option<(Self, i64)>, StoreError> {
        users::table
            .filter(users::organization_id.eq(organization_id))
            .filter(users::id.eq(id))
            .select((Row::as_select(), users::version))
            .first::<(Row, i64)>(conn)
            .optional()?
            .map(|(row, version)| Ok((row.into_user()?, version)))
            .transpose()
    }

    /// Deletes a user; what hangs on it (sessions, grants and the tokens of those grants,
    /// factors, consents) goes with it by the schema's cascades. False when there was none.
    pub fn delete(conn: &mut DbConn, organization_id: i64, id: &str) -> Result<bool, StoreError> {
        let n = diesel::delete(
            users::table
                .filter(users::organization_id.eq(organization_id))
                .filter(users::id.eq(id)),
        )
        .execute(conn)?;
        Ok(n == 1)
    }

    /// One page of the organization's users in username order, after the username `after`,
    /// each with its version; `filter`'s parts must all match (case-insensitive, anywhere in
    /// the value).
    pub fn page(
        conn: &mut DbConn,
        organization_id: i64,
        filter: &UserFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<(Self, i64)>, StoreError> {
        let mut query = users::table
            .filter(users::organization_id.eq(organization_id))
            .select((Row::as_select(), users::version))
            .order_by(users::username)
            .limit(limit)
            .into_boxed();
        if let Some(after) = after {
            query = query.filter(users::username.gt(after.to_string()));
        }
        if let Some(part) = &filter.username {
            query = query.filter(lower(users::username).like(contains(part)).escape('\\'));
        }
        if let Some(part) = &filter.email {
            query = query.filter(lower_opt(users::email).like(contains(part)).escape('\\'));
        }
        if let Some(part) = &filter.phone_number {
            query = query.filter(users::phone_number.like(contains(part)).escape('\\'));
        }
        query
            .load::<(Row, i64)>(conn)?
            .into_iter()
            .map(|(row, version)| Ok((row.into_user()?, version)))
            .collect()
    }
}

/// What a listing of users is narrowed to: each part, when given, must appear in that field.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub username: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
}

diesel::define_sql_function! {
    /// SQL `lower`, the same on both backends for ASCII.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

diesel::define_sql_function! {
    #[sql_name = "lower"]
    fn lower_opt(x: diesel::sql_types::Nullable<diesel::sql_types::Text>) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// A `LIKE` pattern for "holds `part` anywhere", lowercased.
fn contains(part: &str) -> String {
    format!("%{}%", super::escape_like(&part.to_lowercase()))
}
