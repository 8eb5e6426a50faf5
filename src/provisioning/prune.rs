//! `sesame import --prune`: what the file no longer lists is deleted, after a summary.
//!
//! A prune reaches only the applications and users of the organizations the file lists, and
//! of each only the kinds its entry lists (`applications` or `users` present, even empty): an
//! organization the file does not name is someone else's file's, and users who enroll
//! themselves or come through the API are not deleted by a file that never spoke of users.
//! Never pruned, whatever the file says: organizations themselves, webhooks (subscribers ask
//! the hub for their own), roles (`sesame admin revoke`), the console's own application, users
//! who registered themselves (`authn::registration`), and users and applications that hold an
//! administrative role (revoke it first), so that no prune locks the administrators or their
//! automation out. Deletions go through the administrative services: each is audited, and
//! takes with it what hangs on the entity (tokens, sessions, factors, consents). Each is
//! checked again when it is made: what changed since the summary (renamed, given a role) is
//! kept and reported, not deleted.

use std::fmt;

use super::Plan;
use crate::admin::audit::Recorder;
use crate::admin::{ADMIN_ORGANIZATION, AdminError, Expected, Principal};
use crate::store::account_changes::AccountChange;
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
            let apps = if plan.lists.applications {
                Application::list(conn, org.id)?
            } else {
                Vec::new()
            };
            for app in apps {
                let listed = plan.apps.iter().any(|a| a.client_id == app.client_id);
                let console = org.slug == ADMIN_ORGANIZATION
                    && app.client_id.as_str() == crate::admin::console::CLIENT_ID;
                if !listed && !console && !has_role(conn, &Principal::client(&app.id))? {
                    doomed.push(Doomed {
                        organization: org.slug.clone(),
                        kind: Kind::Application,
                        name: app.client_id.as_str().to_string(),
                        id: app.id,
                    });
                }
            }
            let users = if plan.lists.users {
                every_user(conn, org.id)?
            } else {
                Vec::new()
            };
            for user in users {
                let listed = plan.users.iter().any(|u| u.username == user.username);
                if listed
                    || has_role(conn, &Principal::user(&user.id))?
                    || AccountChange::self_registered(conn, &user.id)?
                {
                    continue;
                }
                doomed.push(Doomed {
                    organization: org.slug.clone(),
                    kind: Kind::User,
                    name: user.username.as_str().to_string(),
                    id: user.id,
                });
            }
        }
        Ok(doomed)
    }
}

/// Every user of the organization, read a page at a time in username order.
fn every_user(conn: &mut DbConn, organization_id: i64) -> Result<Vec<User>, StoreError> {
    let mut all = Vec::new();
    loop {
        let after = all.last().map(|u: &User| u.username.as_str().to_string());
        let page = User::page(
            conn,
            organization_id,
            &UserFilter::default(),
            after.as_deref(),
            PAGE,
        )?;
        let full = page.len() as i64 == PAGE;
        all.extend(page.into_iter().map(|(user, _)| user));
        if !full {
            return Ok(all);
        }
    }
}

/// Whether `principal` holds an administrative role anywhere.
fn has_role(conn: &mut DbConn, principal: &str) -> Result<bool, StoreError> {
    Ok(!RoleGrant::of(conn, principal)?.is_empty())
}

/// Deletes each of `doomed` that is still what the summary showed (the same id under the same
/// name, holding no role), audited by `recorder`'s actor; returns what was deleted and what
/// was kept because it changed since. Runs inside the import's transaction, after the file's
/// changes.
pub(super) fn delete(
    conn: &mut DbConn,
    recorder: &Recorder,
    doomed: &[Doomed],
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let (mut deleted, mut kept) = (Vec::new(), Vec::new());
    for d in doomed {
        let Some(org) = Organization::find_by_slug(conn, &d.organization)? else {
            continue;
        };
        let done = match d.kind {
            Kind::Application => {
                let Some(app) = Application::list(conn, org.id)?
                    .into_iter()
                    .find(|a| a.id == d.id)
                else {
                    continue;
                };
                if app.client_id.as_str() != d.name || has_role(conn, &Principal::client(&app.id))?
                {
                    kept.push(d.to_string());
                    continue;
                }
                crate::admin::applications::delete(conn, recorder, &org, &d.name, &Expected::any())
            }
            Kind::User => {
                let Some(user) = User::find(conn, org.id, &d.id)? else {
                    continue;
                };
                if user.username.as_str() != d.name || has_role(conn, &Principal::user(&user.id))? {
                    kept.push(d.to_string());
                    continue;
                }
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
            // Changed by another transaction while this one ran: the import stops whole.
            Err(e @ (AdminError::Stale(_) | AdminError::Conflict(_))) => {
                return Err(StoreError::Conflict(format!("pruning {d}: {e}")));
            }
            Err(e) => return Err(StoreError::Internal(format!("pruning {d}: {e}"))),
        }
    }
    Ok((deleted, kept))
}
