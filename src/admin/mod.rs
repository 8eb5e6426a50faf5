//! Administration: who may manage what, and the audit log every change writes.
//!
//! Administrators are users of the **administration organization** (slug [`ADMIN_ORGANIZATION`])
//! who sign in through Sesame itself, with their own second factor; service applications of
//! that organization act with client-credentials tokens. Either holds **roles per
//! organization** ([`Role`]), or the `system` role over every organization. The management API,
//! the CLI and imports call the functions of this module and its children, which name no web
//! type; every change they make is written to the audit log in the change's own transaction
//! and published on the organization's `ADMIN` topic ([`audit`]).

pub mod applications;
pub mod audit;
pub mod console;
pub mod events;
pub mod keys;
pub mod organizations;
pub mod roles;
pub mod sms;
pub mod users;
pub mod webhooks;

use serde::{Deserialize, Serialize};

use crate::store::admin::RoleGrant;
use crate::store::{DbConn, StoreError};

/// The slug of the organization whose users and service applications administer Sesame.
pub const ADMIN_ORGANIZATION: &str = "admin";

/// The management API's path under the base URL.
pub const API_PATH: &str = "/api/v1";

/// The management API as a resource (RFC 8707): the audience of the access tokens it takes,
/// which the administration organization issues.
pub fn api_resource(base_url: &str) -> String {
    format!("{base_url}{API_PATH}")
}

/// What a principal may do in an organization; each role may do all that the ones before it
/// may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything but secrets.
    Viewer,
    /// Also unlocks accounts, resets second factors and ends users' sessions.
    Support,
    /// Also creates, changes and deletes users, applications and settings.
    Admin,
    /// Also grants roles in the organization.
    Owner,
    /// Owner of every organization; creates organizations. Granted over all of them only.
    System,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Self::Viewer,
        Self::Support,
        Self::Admin,
        Self::Owner,
        Self::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Support => "support",
            Self::Admin => "admin",
            Self::Owner => "owner",
            Self::System => "system",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == text)
            .ok_or_else(|| {
                format!(
                    "unknown role '{text}': one of {}",
                    Self::ALL.map(Self::as_str).join(", ")
                )
            })
    }
}

/// Who is acting: a user (`user:{id}`) or a service application (`client:{application id}`) of the
/// administration organization, with its roles.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: String,
    /// The username or client id, for people reading the audit log.
    pub name: String,
    roles: Vec<(Option<i64>, Role)>,
}

impl Principal {
    /// The principal `id` and the roles it holds (unknown roles in the table are ignored).
    pub fn load(conn: &mut DbConn, id: &str, name: &str) -> Result<Self, StoreError> {
        let roles = RoleGrant::of(conn, id)?
            .into_iter()
            .filter_map(|g| Some((g.organization_id, Role::parse(&g.role).ok()?)))
            .collect();
        Ok(Self {
            id: id.to_string(),
            name: name.to_string(),
            roles,
        })
    }

    pub fn user(user_id: &str) -> String {
        format!("user:{user_id}")
    }

    /// A service application by its id (not its client id, which a later application could
    /// be given: roles end with the application they were granted to).
    pub fn client(application_id: &str) -> String {
        format!("client:{application_id}")
    }

    /// The principal's role in the organization: its own there, or `system`.
    pub fn role_in(&self, organization_id: i64) -> Option<Role> {
        self.roles
            .iter()
            .filter(|(org, role)| *org == Some(organization_id) || *role == Role::System)
            .map(|(_, role)| *role)
            .max()
    }

    pub fn is_system(&self) -> bool {
        self.roles.iter().any(|(_, role)| *role == Role::System)
    }

    /// The organizations the principal holds a role in (system: see [`Self::is_system`]).
    pub fn organizations(&self) -> Vec<i64> {
        self.roles.iter().filter_map(|(org, _)| *org).collect()
    }

    /// Whether the principal's role in the organization allows `needed`.
    pub fn may(&self, organization_id: i64, needed: Role) -> bool {
        self.role_in(organization_id).is_some_and(|r| r >= needed)
    }

    /// [`Self::may`], or the error that says what is missing.
    pub fn require(&self, organization_id: i64, needed: Role) -> Result<(), AdminError> {
        if self.may(organization_id, needed) {
            return Ok(());
        }
        Err(AdminError::Forbidden(match self.role_in(organization_id) {
            Some(role) => format!(
                "this needs the role '{}' in the organization; you have '{}'",
                needed.as_str(),
                role.as_str()
            ),
            None => format!(
                "this needs the role '{}' in the organization; you have none there",
                needed.as_str()
            ),
        }))
    }
}

/// What a change expects of the entity's version (`If-Match`): any version (`*`, or no header
/// where the header is optional), or one of these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected(Option<Vec<i64>>);

impl Expected {
    pub fn any() -> Self {
        Self(None)
    }

    pub fn one_of(versions: Vec<i64>) -> Self {
        Self(Some(versions))
    }

    /// `*` (or no header where it is optional).
    pub fn is_any(&self) -> bool {
        self.0.is_none()
    }

    pub fn allows(&self, current: i64) -> bool {
        self.0.as_ref().is_none_or(|v| v.contains(&current))
    }
}

/// Where a change came from, as the audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Api,
    Console,
    Cli,
    Import,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Console => "console",
            Self::Cli => "cli",
            Self::Import => "import",
        }
    }
}

/// Who made a change and from where, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `user:{id}`, `client:{application id}`, or `operator` (the CLI, run on the server).
    pub principal: String,
    pub name: String,
    pub via: Via,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

impl Actor {
    /// Someone at the server's command line (the CLI and imports): the operating system's
    /// user, when it says.
    pub fn operator(via: Via) -> Self {
        Self {
            principal: "operator".into(),
            name: std::env::var("USER").unwrap_or_else(|_| "operator".into()),
            via,
            ip: None,
            request_id: None,
        }
    }
}

/// Why an administrative action was refused. Mapped to RFC 9457 problem bodies in one place
/// (`http::api`).
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    /// The entity changed since the version the caller read (ETag).
    #[error("{0}")]
    Stale(String),
    /// A value is taken (a username).
    #[error("{0}")]
    Conflict(String),
    /// A field of the request is not acceptable.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A limit was reached (test messages per hour).
    #[error("{0}")]
    Limited(String),
    /// Fields of the request are not acceptable, each with why (a change checked whole).
    #[error("{} field(s) are not acceptable", .0.len())]
    Fields(Vec<(String, String)>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeysError),
}

impl AdminError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(roles: &[(Option<i64>, Role)]) -> Principal {
        Principal {
            id: "user:x".into(),
            name: "x".into(),
            roles: roles.to_vec(),
        }
    }

    #[test]
    fn a_role_holds_in_its_organization_only_and_system_everywhere() {
        let p = principal(&[(Some(1), Role::Support), (Some(2), Role::Viewer)]);
        assert!(p.may(1, Role::Support));
        assert!(!p.may(1, Role::Admin));
        assert!(p.may(2, Role::Viewer));
        assert!(!p.may(2, Role::Support));
        assert!(!p.may(3, Role::Viewer));
        assert!(!p.is_system());
        let root = principal(&[(None, Role::System)]);
        assert!(root.may(3, Role::Owner));
        assert!(root.is_system());
        assert!(matches!(
            p.require(3, Role::Viewer),
            Err(AdminError::Forbidden(m)) if m.contains("none there")
        ));
    }

    #[test]
    fn roles_parse_by_name() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert!(Role::parse("root").unwrap_err().contains("viewer, support"));
    }
}
