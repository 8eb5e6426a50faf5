//! Administration's tables: the roles of the administration organization's principals, and
//! the audit log of every change.

use diesel::prelude::*;

use super::schema::{admin_roles, audit_log};
use super::{DbConn, StoreError};

/// One role of a principal (`user:{id}` or `client:{application id}` of the administration
/// organization) over one organization, or over all of them (`organization_id` `None`).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = admin_roles)]
pub struct RoleGrant {
    pub id: String,
    pub principal: String,
    pub organization_id: Option<i64>,
    pub role: String,
    pub created_at: i64,
}

impl RoleGrant {
    /// Every role of `principal`.
    pub fn of(conn: &mut DbConn, principal: &str) -> Result<Vec<Self>, StoreError> {
        Ok(admin_roles::table
            .filter(admin_roles::principal.eq(principal))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Gives `principal` `role` over the organization (or all of them), replacing the role it
    /// had there: one role per principal and organization.
    pub fn set(
        conn: &mut DbConn,
        principal: &str,
        organization_id: Option<i64>,
        role: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        Self::remove(conn, principal, organization_id)?;
        diesel::insert_into(admin_roles::table)
            .values(Self {
                id: uuid::Uuid::new_v4().to_string(),
                principal: principal.to_string(),
                organization_id,
                role: role.to_string(),
                created_at: now,
            })
            .execute(conn)?;
        Ok(())
    }

    /// Takes away the principal's role over the organization (or over all of them); false
    /// when it had none there.
    pub fn remove(
        conn: &mut DbConn,
        principal: &str,
        organization_id: Option<i64>,
    ) -> Result<bool, StoreError> {
        let of_principal = admin_roles::table.filter(admin_roles::principal.eq(principal));
        let n = match organization_id {
            Some(id) => diesel::delete(of_principal.filter(admin_roles::organization_id.eq(id)))
                .execute(conn)?,
            None => diesel::delete(of_principal.filter(admin_roles::organization_id.is_null()))
                .execute(conn)?,
        };
        Ok(n > 0)
    }

    /// The roles over one organization, and the system roles (over every one), oldest first.
    pub fn over(conn: &mut DbConn, organization_id: i64) -> Result<Vec<Self>, StoreError> {
        Ok(admin_roles::table
            .filter(
                admin_roles::organization_id
                    .eq(organization_id)
                    .or(admin_roles::organization_id.is_null()),
            )
            .order((admin_roles::created_at, admin_roles::id))
            .select(Self::as_select())
            .load(conn)?)
    }

    /// Takes away every role of `principal` (a deleted administrator).
    pub fn remove_all(conn: &mut DbConn, principal: &str) -> Result<usize, StoreError> {
        Ok(
            diesel::delete(admin_roles::table.filter(admin_roles::principal.eq(principal)))
                .execute(conn)?,
        )
    }
}

/// One entry of the audit log as written; `seq` is given by the database.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditEntry {
    pub id: String,
    pub organization_id: Option<i64>,
    pub actor: String,
    pub actor_name: String,
    pub via: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    /// A JSON object: per field changed, its value before and after (secrets redacted).
    pub changes: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub created_at: i64,
}

/// One entry of the audit log as read, with its place in the log.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub seq: i64,
    pub id: String,
    pub organization_id: Option<i64>,
    pub actor: String,
    pub actor_name: String,
    pub via: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    pub changes: String,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub created_at: i64,
}

impl NewAuditEntry {
    pub fn insert(&self, conn: &mut DbConn) -> Result<(), StoreError> {
        diesel::insert_into(audit_log::table)
            .values(self)
            .execute(conn)?;
        Ok(())
    }
}

impl AuditEntry {
    /// The organization's entries, newest first, older than `before` (a `seq`) when given.
    /// On PostgreSQL `seq` is taken when an entry is written, not when it commits: an entry of
    /// a long transaction can appear behind a page already read (read the newest page again to
    /// see it); SQLite's writers take turns, so there its order is the commit order.
    pub fn page(
        conn: &mut DbConn,
        organization_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError> {
        let mut query = audit_log::table
            .filter(audit_log::organization_id.eq(organization_id))
            .select(Self::as_select())
            .order_by(audit_log::seq.desc())
            .limit(limit)
            .into_boxed();
        if let Some(before) = before {
            query = query.filter(audit_log::seq.lt(before));
        }
        Ok(query.load(conn)?)
    }
    /// The newest entry's `seq`, if the log has any.
    pub fn last_seq(conn: &mut DbConn) -> Result<Option<i64>, StoreError> {
        Ok(audit_log::table
            .select(diesel::dsl::max(audit_log::seq))
            .first(conn)?)
    }

    /// Every organization's entries after `seq` (all of them with `None`), oldest first: what
    /// a transaction recorded, read before it ends (a dry run's diff).
    pub fn after(conn: &mut DbConn, seq: Option<i64>) -> Result<Vec<Self>, StoreError> {
        let mut query = audit_log::table
            .select(Self::as_select())
            .order_by(audit_log::seq.asc())
            .into_boxed();
        if let Some(seq) = seq {
            query = query.filter(audit_log::seq.gt(seq));
        }
        Ok(query.load(conn)?)
    }

    /// How many entries of `action` the organization's log has since `since`.
    pub fn count_since(
        conn: &mut DbConn,
        organization_id: i64,
        action: &str,
        since: i64,
    ) -> Result<i64, StoreError> {
        Ok(audit_log::table
            .filter(audit_log::organization_id.eq(organization_id))
            .filter(audit_log::action.eq(action))
            .filter(audit_log::created_at.ge(since))
            .count()
            .get_result(conn)?)
    }
}
