//! Granting and taking back roles, and the administration organization itself.

use serde_json::json;

use super::audit::{self, Change};
use super::{ADMIN_ORGANIZATION, Actor, AdminError, Role, api_resource};
use crate::domain::OrgSlug;
use crate::events::Origin;
use crate::store::admin::RoleGrant;
use crate::store::organizations::{OrgSettings, Organization, Resource};
use crate::store::{DbConn, StoreError, now, write_transaction};

/// The administration organization, created if missing with the management API among its
/// resources (so its service applications may ask tokens for it).
pub fn ensure_admin_organization(
    conn: &mut DbConn,
    base_url: &str,
) -> Result<(Organization, bool), StoreError> {
    if let Some(org) = Organization::find_by_slug(conn, ADMIN_ORGANIZATION)? {
        return Ok((org, false));
    }
    let settings = OrgSettings {
        resources: vec![Resource {
            identifier: api_resource(base_url),
            scopes: Vec::new(),
        }],
        ..OrgSettings::default()
    };
    let slug = OrgSlug::parse(ADMIN_ORGANIZATION).expect("the administration slug parses");
    Ok((
        Organization::create(conn, &slug, "Administration", &settings)?,
        true,
    ))
}

/// Gives `principal` `role` over the organization of `target` (`organization`: `Some` its id;
/// `None` with [`Role::System`], over all of them), replacing the role it had there, with the
/// audit entry in `target`'s log.
pub fn grant(
    conn: &mut DbConn,
    target: Origin<'_>,
    actor: &Actor,
    principal: &str,
    organization: Option<i64>,
    role: Role,
) -> Result<(), AdminError> {
    check_scope(organization, role)?;
    write_transaction(conn, |conn| {
        let before = RoleGrant::of(conn, principal)?
            .into_iter()
            .find(|g| g.organization_id == organization)
            .map(|g| g.role);
        RoleGrant::set(conn, principal, organization, role.as_str(), now())?;
        audit::record(
            conn,
            target,
            actor,
            Change {
                action: "role.grant",
                entity: "role",
                entity_id: principal,
                before: before.map(|r| json!({ "role": r })),
                after: Some(json!({ "role": role.as_str() })),
            },
        )?;
        Ok(())
    })?;
    Ok(())
}

/// Refuses a role over the wrong scope: `system` is over every organization (`None`), the
/// others over one.
pub fn check_scope(organization: Option<i64>, role: Role) -> Result<(), AdminError> {
    match (organization, role) {
        (None, Role::System)
        | (Some(_), Role::Viewer | Role::Support | Role::Admin | Role::Owner) => Ok(()),
        (None, _) => Err(AdminError::invalid(
            "role",
            "only the system role is granted over every organization; name one for the others",
        )),
        (Some(_), Role::System) => Err(AdminError::invalid(
            "role",
            "the system role is granted over every organization, not one",
        )),
    }
}

/// Takes back the role `principal` holds over the organization (or over all), audited in
/// `target`'s log; false when it held none there.
pub fn revoke(
    conn: &mut DbConn,
    target: Origin<'_>,
    actor: &Actor,
    principal: &str,
    organization: Option<i64>,
) -> Result<bool, AdminError> {
    Ok(write_transaction(conn, |conn| {
        let before = RoleGrant::of(conn, principal)?
            .into_iter()
            .find(|g| g.organization_id == organization);
        let Some(before) = before else {
            return Ok(false);
        };
        RoleGrant::remove(conn, principal, organization)?;
        audit::record(
            conn,
            target,
            actor,
            Change {
                action: "role.revoke",
                entity: "role",
                entity_id: principal,
                before: Some(json!({ "role": before.role })),
                after: None,
            },
        )?;
        Ok(true)
    })?)
}
