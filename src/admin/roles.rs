//! Granting and taking back roles, and the administration organization itself.

use serde::Serialize;
use serde_json::json;

use super::audit::{self, Change};
use super::{ADMIN_ORGANIZATION, Actor, AdminError, Principal, Role, api_resource};
use crate::domain::{OrgSlug, Username};
use crate::events::Origin;
use crate::store::admin::RoleGrant;
use crate::store::applications::Application;
use crate::store::organizations::{OrgSettings, Organization, Resource};
use crate::store::users::User;
use crate::store::{DbConn, StoreError, format_rfc3339, now, write_transaction};

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

/// A principal as people name it: an administrator of the administration organization by
/// username, or one of its service applications by client id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    User(String),
    Client(String),
}

/// The principal `named` stands for (its id in `admin_roles`) and how messages name it. A
/// service application is bound by its application id, not its client id: its roles end with
/// it, and a later application given the same client id does not inherit them.
pub fn principal(
    conn: &mut DbConn,
    admin_organization: i64,
    named: &Named,
) -> Result<(String, String), AdminError> {
    match named {
        Named::User(name) => {
            let username = Username::parse(name).map_err(|e| AdminError::invalid("username", e))?;
            let user =
                User::find_by_username(conn, admin_organization, &username)?.ok_or_else(|| {
                    AdminError::NotFound(format!("no user '{name}' in '{ADMIN_ORGANIZATION}'"))
                })?;
            Ok((Principal::user(&user.id), format!("user {name}")))
        }
        Named::Client(client_id) => {
            let app = Application::find(conn, admin_organization, client_id)?.ok_or_else(|| {
                AdminError::NotFound(format!(
                    "no application '{client_id}' in '{ADMIN_ORGANIZATION}'"
                ))
            })?;
            Ok((
                Principal::client(&app.id),
                format!("application {client_id}"),
            ))
        }
    }
}

/// A role someone holds over an organization, as the management API lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoleView {
    /// `users` (an administrator) or `clients` (a service application).
    pub kind: String,
    /// The administrator's username or the application's client id.
    pub name: String,
    /// `viewer`, `support`, `admin`, `owner`, or `system` (over every organization).
    pub role: Role,
    pub granted_at: String,
}

/// Who holds a role over the organization: its own roles and the system roles.
pub fn list(
    conn: &mut DbConn,
    admin_organization: i64,
    organization: i64,
) -> Result<Vec<RoleView>, AdminError> {
    let mut out = Vec::new();
    for grant in RoleGrant::over(conn, organization)? {
        let Ok(role) = Role::parse(&grant.role) else {
            continue;
        };
        let named = if let Some(id) = grant.principal.strip_prefix("user:") {
            User::find(conn, admin_organization, id)?
                .map(|u| ("users", u.username.as_str().to_string()))
        } else if let Some(id) = grant.principal.strip_prefix("client:") {
            Application::find_by_id(conn, id)?.map(|a| ("clients", a.client_id.to_string()))
        } else {
            None
        };
        if let Some((kind, name)) = named {
            out.push(RoleView {
                kind: kind.into(),
                name,
                role,
                granted_at: format_rfc3339(grant.created_at),
            });
        }
    }
    out.sort_by(|a, b| (a.kind.as_str(), &a.name).cmp(&(b.kind.as_str(), &b.name)));
    Ok(out)
}
