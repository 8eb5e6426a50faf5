//! `sesame import --prune`: what the file no longer lists is deleted, after a summary.
//!
//! A prune reaches only the applications and users of the organizations the file lists: an
//! organization the file does not name is someone else's file's, and is left alone. Never
//! pruned, whatever the file says: organizations themselves, webhooks (subscribers ask the hub
//! for their own), roles (`sesame admin revoke`), the console's own application, and users who
//! hold an administrative role (revoke it first), so that no prune locks the administrators
//! out. Deletions go through the administrative services: each is audited, and takes with it
//! what hangs on the entity (tokens, sessions, factors, consents).

use std::fmt;

use super::Plan;
use crate::admin::audit::Recorder;
use crate::admin::{ADMIN_ORGANIZATION, AdminError, Expected, Principal};
use crate::store::admin::RoleGrant;
use crate::store::applications::Application;
use crate::store::organizations::Organization;
use crate::store::users::{User, UserFilter};
use crate::store::{DbConn, StoreError};

/// What a prune deletes: an application or a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Application,
    User,
}

/// One entity a prune deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doomed {
    /// The organization's slug.
    pub organization: String,
    pub kind: Kind,
    /// The application's client id, or the user's username (as the summary shows them).
    pub name: String,
    /// The application's or user's id: a namesake created after the summary is not deleted.
    id: String,
}

impl fmt::Display for Doomed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Application => "application",
            Kind::User => "user",
        };
        write!(f, "{kind} {}/{}", self.organization, self.name)
    }
}

/// Users read per query while listing an organization's.
const PAGE: i64 = 500;

impl Plan {
    /// What a prune would delete now: the applications and users of the file's organizations
    /// that the file does not list (see the module's documentation for what is never pruned).
    pub fn prune_list(&self, conn: &mut DbConn) -> Result<Vec<Doomed>, StoreError> {
        let mut doomed = Vec::new();
        for plan in &self.orgs {
            let Some(org) = Organization::find_by_slug(conn, plan.slug.as_str())? else {
                continue;
            };
            for app in Application::list(conn, org.id)? {
                let listed = plan.apps.iter().any(|a| a.client_id == app.client_id);
                let console = org.slug == ADMIN_ORGANIZATION
                    && app.client_id.as_str() == crate::admin::console::CLIENT_ID;
                if !listed && !console {
                    doomed.push(Doomed {
                        organization: org.slug.clone(),
                        kind: Kind::Application,
                        name: app.client_id.as_str().to_string(),
                        id: app.id,
                    });
                }
            }
            let mut after: Option<String> = None;
            loop {
                let page =
                    User::page(conn, org.id, &UserFilter::default(), after.as_deref(), PAGE)?;
                let Some((last, _)) = page.last() else { break };
                after = Some(last.username.as_str().to_string());
                for (user, _) in &page {
                    let listed = plan.users.iter().any(|u| u.username == user.username);
                    if listed || !RoleGrant::of(conn, &Principal::user(&user.id))?.is_empty() {
                        continue;
                    }
                    doomed.push(Doomed {
                        organization: org.slug.clone(),
                        kind: Kind::User,
                        name: user.username.as_str().to_string(),
                        id: user.id.clone(),
                    });
                }
                if (page.len() as i64) < PAGE {
                    break;
                }
            }
        }
        Ok(doomed)
    }
}

/// Deletes each of `doomed` still there (by id: what was created since the summary stays),
/// audited by `recorder`'s actor; returns what was deleted. Runs inside the import's
/// transaction.
pub(super) fn delete(
    conn: &mut DbConn,
    recorder: &Recorder,
    doomed: &[Doomed],
) -> Result<Vec<String>, StoreError> {
    let mut deleted = Vec::new();
    for d in doomed {
        let Some(org) = Organization::find_by_slug(conn, &d.organization)? else {
            continue;
        };
        let done = match d.kind {
            Kind::Application => {
                let still = Application::list(conn, org.id)?
                    .into_iter()
                    .any(|a| a.id == d.id && a.client_id.as_str() == d.name);
                if !still {
                    continue;
                }
                crate::admin::applications::delete(conn, recorder, &org, &d.name, &Expected::any())
            }
            Kind::User => {
                let origin = recorder.origin_of(&org);
                crate::admin::users::delete(
                    conn,
                    origin.origin(),
                    &recorder.actor,
                    &d.id,
                    &Expected::any(),
                )
            }
        };
        match done {
            Ok(()) => deleted.push(d.to_string()),
            // Gone meanwhile: nothing to delete.
            Err(AdminError::NotFound(_)) => {}
            Err(AdminError::Store(e)) => return Err(e),
            Err(e) => return Err(StoreError::Corrupt(format!("pruning {d}: {e}"))),
        }
    }
    Ok(deleted)
}
