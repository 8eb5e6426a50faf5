//! `sesame keys`: an organization's signing keys listed, rotated, retired.

use super::*;

#[derive(Debug, Subcommand)]
pub(super) enum KeysCommand {
    /// List the organization's signing keys (active, published and retired).
    List {
        /// The organization's slug.
        #[arg(long)]
        org: String,
    },
    /// Make a new key active; the previous one stays published (so issued tokens still verify)
    /// until retired.
    Rotate {
        /// The organization's slug.
        #[arg(long)]
        org: String,
        /// Rotate only this algorithm (RS256, ES256, EdDSA); all of them by default.
        #[arg(long)]
        alg: Option<String>,
        /// Sign with the new key at once (for a compromised key). By default the new key is
        /// published first and starts signing once every node and relying party has refreshed
        /// its copy of the key set (key cache time + 60 seconds of JWKS caching).
        #[arg(long)]
        now: bool,
    },
    /// Remove a published, no longer active key from the key set.
    Retire {
        /// The organization's slug.
        #[arg(long)]
        org: String,
        /// The key's id (its RFC 7638 thumbprint, as `keys list` shows). Thumbprints are
        /// base64url and may start with `-`, so the value is taken as is.
        #[arg(long, allow_hyphen_values = true)]
        kid: String,
    },
}

pub(super) fn keys_command(command: KeysCommand, settings: Settings) -> Result<(), Failure> {
    match command {
        KeysCommand::List { org } => {
            let (mut conn, org) = org_conn(&settings, &org)?;
            print_keys(&mut conn, &org)
        }
        KeysCommand::Rotate { org, alg, now } => {
            let kek = kek(&settings)?;
            let algs = match alg {
                Some(a) => vec![Alg::parse(&a).map_err(|e| Failure(e, 2))?],
                None => Alg::ALL.to_vec(),
            };
            let (mut conn, org) = org_conn(&settings, &org)?;
            keys::verify_kek(&mut conn, &kek).map_err(|e| Failure(e.to_string(), 2))?;
            // Other nodes cache the key set for the key cache time, relying parties for 60 s.
            let delay = if now {
                0
            } else {
                settings.key_cache_ttl.as_secs() as i64 + 60
            };
            let origin = crate::events::OwnedOrigin::new(&settings, org);
            let actor = crate::admin::Actor::operator(crate::admin::Via::Cli);
            let rows =
                crate::admin::keys::rotate(&mut conn, &kek, origin.origin(), &actor, &algs, delay)?;
            for row in rows {
                match row.activate_at {
                    None => println!("new active {} key {}", row.alg, row.kid),
                    Some(at) => println!(
                        "new {} key {} is published now and starts signing at {at}",
                        row.alg, row.kid
                    ),
                }
            }
            print_keys(&mut conn, &origin.org)
        }
        KeysCommand::Retire { org, kid } => {
            let (mut conn, org) = org_conn(&settings, &org)?;
            let origin = crate::events::OwnedOrigin::new(&settings, org);
            let actor = crate::admin::Actor::operator(crate::admin::Via::Cli);
            crate::admin::keys::retire(&mut conn, origin.origin(), &actor, &kid)?;
            println!("retired {kid}");
            print_keys(&mut conn, &origin.org)
        }
    }
}

fn print_keys(conn: &mut DbConn, org: &Organization) -> Result<(), Failure> {
    println!("{:<44} {:<6} {:<10} created", "kid", "alg", "state");
    for k in SigningKeyRow::list_all(conn, org.id)? {
        println!(
            "{:<44} {:<6} {:<10} {}",
            k.kid, k.alg, k.state, k.created_at
        );
    }
    Ok(())
}
