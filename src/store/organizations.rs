//! Organizations (tenants). The slug is the key in URLs and never changes once created.

use diesel::prelude::*;

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
}

impl Organization {
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
    ) -> Result<Self, StoreError> {
        let t = now();
        diesel::insert_into(organizations::table)
            .values((
                organizations::slug.eq(slug.as_str()),
                organizations::display_name.eq(display_name),
                organizations::created_at.eq(t),
                organizations::updated_at.eq(t),
            ))
            .execute(conn)?;
        Self::find_by_slug(conn, slug.as_str())?.ok_or_else(|| {
            StoreError::Corrupt(format!("organization {slug} vanished after insert"))
        })
    }

    /// Changes the display name (the slug stays: issuers and tokens depend on it).
    pub fn set_display_name(
        conn: &mut DbConn,
        id: i64,
        display_name: &str,
    ) -> Result<(), StoreError> {
        diesel::update(organizations::table.find(id))
            .set((
                organizations::display_name.eq(display_name),
                organizations::updated_at.eq(now()),
            ))
            .execute(conn)?;
        Ok(())
    }
}
