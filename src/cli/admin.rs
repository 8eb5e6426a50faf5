//! `sesame admin`: administrators and the roles of administrators and service applications.

use super::*;

#[derive(Debug, Subcommand)]
pub(super) enum AdminCommand {
    /// Create an administrator: a user of the `admin` organization (created if missing) with a
    /// generated password, printed once, and a role: the system role (every organization) or,
    /// with --org, a role over one organization.
    Create {
        #[arg(long)]
        username: String,
        /// The administrator's mobile number (E.164), for their SMS one-time passwords.
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        email: Option<String>,
        /// The organization the role is over; the system role when absent.
        #[arg(long, requires = "role")]
        org: Option<String>,
        /// viewer, support, admin or owner (with --org).
        #[arg(long, requires = "org")]
        role: Option<String>,
    },
    /// Give a user or a service application of the `admin` organization a role over one
    /// organization (--org), or the system role over all (--role system); replaces the role it
    /// had there.
    Grant {
        /// A user of the `admin` organization.
        #[arg(long, required_unless_present = "client", conflicts_with = "client")]
        username: Option<String>,
        /// A service application (client id) of the `admin` organization.
        #[arg(long)]
        client: Option<String>,
        #[arg(long)]
        org: Option<String>,
        /// viewer, support, admin, owner, or system (without --org).
        #[arg(long)]
        role: String,
    },
    /// Take back the role a user or a service application holds over one organization (--org)
    /// or over all (without it).
    Revoke {
        #[arg(long, required_unless_present = "client", conflicts_with = "client")]
        username: Option<String>,
        #[arg(long)]
        client: Option<String>,
        #[arg(long)]
        org: Option<String>,
    },
}

pub(super) fn admin_command(command: AdminCommand, settings: &Settings) -> Result<(), Failure> {
    use crate::admin::{self, Actor, Principal, Role, Via};
    let mut conn = Db::connect_once(&settings.database)?;
    let actor = Actor::operator(Via::Cli);
    let refused = |e: admin::AdminError| Failure(e.to_string(), 1);
    let (admin_org, created) =
        admin::roles::ensure_admin_organization(&mut conn, settings.base_url.as_str())?;
    if created {
        println!(
            "created the administration organization '{}' (issuer {})",
            admin_org.slug,
            settings.base_url.issuer(&admin_org.slug)
        );
    }
    let admin_origin = crate::events::OwnedOrigin::new(settings, admin_org);
    // The organization a role is over (its origin, for the audit log), or all of them.
    let target = |conn: &mut DbConn, org: Option<&str>| -> Result<_, Failure> {
        Ok(match org {
            Some(slug) => {
                let org = Organization::find_by_slug(conn, slug)?
                    .ok_or_else(|| Failure(format!("no organization with slug '{slug}'"), 1))?;
                Some(crate::events::OwnedOrigin::new(settings, org))
            }
            None => None,
        })
    };
    // Whose log a role change goes to, and what it is over: the organization, or (the system
    // role) every organization, logged in the administration's.
    fn scope<'a>(
        target: &'a Option<crate::events::OwnedOrigin>,
        admin: &'a crate::events::OwnedOrigin,
    ) -> (crate::events::Origin<'a>, Option<i64>) {
        match target {
            Some(t) => (t.origin(), Some(t.org.id)),
            None => (admin.origin(), None),
        }
    }
    let principal = |conn: &mut DbConn, username: Option<String>, client: Option<String>| {
        let named = match (username, client) {
            (Some(name), _) => admin::roles::Named::User(name),
            (None, Some(client_id)) => admin::roles::Named::Client(client_id),
            (None, None) => return Err(Failure("name --username or --client".into(), 2)),
        };
        admin::roles::principal(conn, admin_origin.org.id, &named).map_err(refused)
    };
    match command {
        AdminCommand::Create {
            username,
            phone,
            email,
            org,
            role,
        } => {
            let role = match &role {
                Some(r) => Role::parse(r).map_err(|e| Failure(e, 2))?,
                None => Role::System,
            };
            let target = target(&mut conn, org.as_deref())?;
            admin::roles::check_scope(target.as_ref().map(|t| t.org.id), role).map_err(refused)?;
            let has_phone = phone.is_some();
            let password = crate::secret::random_token(18);
            let hash = crate::password::hash(&password);
            let new = admin::users::NewUser {
                username,
                email_verified: email.is_some(),
                email,
                phone_number_verified: phone.is_some(),
                phone_number: phone,
                password: None,
                disabled: false,
                profile: Default::default(),
            };
            let user =
                admin::users::create(&mut conn, admin_origin.origin(), &actor, new, Some(hash))
                    .map_err(refused)?;
            let principal = Principal::user(&user.summary.id);
            let (origin, over) = scope(&target, &admin_origin);
            admin::roles::grant(&mut conn, origin, &actor, &principal, over, role)
                .map_err(refused)?;
            println!(
                "administrator '{}' created in '{}' with the role {} over {}",
                user.summary.username,
                admin::ADMIN_ORGANIZATION,
                role.as_str(),
                org.as_deref().unwrap_or("every organization")
            );
            println!("password (shown once): {}", password.expose());
            if !has_phone {
                println!(
                    "note: the management API takes administrators' tokens only from sign-ins with a second factor; give them one (--phone, or an authenticator app in their account)"
                );
            }
            Ok(())
        }
        AdminCommand::Grant {
            username,
            client,
            org,
            role,
        } => {
            let role = Role::parse(&role).map_err(|e| Failure(e, 2))?;
            let (principal, label) = principal(&mut conn, username, client)?;
            let target = target(&mut conn, org.as_deref())?;
            let (origin, over) = scope(&target, &admin_origin);
            admin::roles::grant(&mut conn, origin, &actor, &principal, over, role)
                .map_err(refused)?;
            println!(
                "{label} has the role {} over {}",
                role.as_str(),
                org.as_deref().unwrap_or("every organization")
            );
            Ok(())
        }
        AdminCommand::Revoke {
            username,
            client,
            org,
        } => {
            let (principal, label) = principal(&mut conn, username, client)?;
            let target = target(&mut conn, org.as_deref())?;
            let (origin, over) = scope(&target, &admin_origin);
            let over_what = org.as_deref().unwrap_or("every organization");
            if admin::roles::revoke(&mut conn, origin, &actor, &principal, over).map_err(refused)? {
                println!("{label} no longer has a role over {over_what}");
            } else {
                println!("{label} had no role over {over_what}");
            }
            Ok(())
        }
    }
}
