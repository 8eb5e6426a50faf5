//! Organizations as administrators see them: each one a principal holds a role in (every one,
//! for the system role), with its settings.

use serde::Serialize;

use super::{AdminError, Principal, Role};
use crate::store::organizations::Organization;
use crate::store::{DbConn, format_rfc3339};

/// An organization and its settings, redacted as the audit log redacts them (credentials held
/// inline — a gateway's headers, body template, URL query — never show).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrganizationView {
    pub slug: String,
    pub display_name: String,
    /// The `organizationId` of its events.
    pub id: i64,
    /// The caller's role in it.
    pub role: Option<Role>,
    /// SMS OTP, lock policy, backup codes, magic links, SMS channel, mail, identity providers,
    /// resources, event sinks.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

pub fn view(org: &Organization, principal: &Principal) -> OrganizationView {
    OrganizationView {
        slug: org.slug.clone(),
        display_name: org.display_name.clone(),
        id: org.id,
        role: principal.role_in(org.id),
        settings: super::audit::redacted(
            &serde_json::to_value(&org.settings).expect("settings serialize"),
        ),
        created_at: format_rfc3339(org.created_at),
        updated_at: format_rfc3339(org.updated_at),
    }
}

/// The organizations `principal` holds a role in, by slug.
pub fn list(conn: &mut DbConn, principal: &Principal) -> Result<Vec<OrganizationView>, AdminError> {
    Ok(Organization::list(conn)?
        .iter()
        .filter(|o| principal.may(o.id, Role::Viewer))
        .map(|o| view(o, principal))
        .collect())
}
