//! An organization's signing keys as administrators manage them: listed (public parts only),
//! rotated, retired; each change audited.

use serde::Serialize;
use serde_json::json;

use super::audit::{self, Change};
use super::{Actor, AdminError};
use crate::events::Origin;
use crate::keys::{self, Alg, Kek};
use crate::store::keys::SigningKeyRow;
use crate::store::{DbConn, format_rfc3339, write_transaction};

/// A signing key: its public identity and state, never its private part.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// The JWK thumbprint (RFC 7638), the `kid` of what it signs.
    pub kid: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub alg: String,
    /// `active` (signs), `published` (in the key set: a rotated-in key waiting to sign, or a
    /// rotated-out one still verifying what it signed) or `retired` (gone from the key set).
    pub state: String,
    pub created_at: String,
    /// When a rotated-in key starts signing.
    pub activate_at: Option<String>,
    pub retired_at: Option<String>,
}

fn view(row: &SigningKeyRow) -> KeyView {
    KeyView {
        kid: row.kid.clone(),
        alg: row.alg.clone(),
        state: row.state.clone(),
        created_at: format_rfc3339(row.created_at),
        activate_at: row.activate_at.map(format_rfc3339),
        retired_at: row.retired_at.map(format_rfc3339),
    }
}

pub fn list(conn: &mut DbConn, organization_id: i64) -> Result<Vec<KeyView>, AdminError> {
    Ok(SigningKeyRow::list_all(conn, organization_id)?
        .iter()
        .map(view)
        .collect())
}

/// Makes a new key for each of `algs` (before any transaction: key generation is the slow
/// part) and puts them in place with their audit entries: signing after `delay_seconds` (so
/// every node and relying party has the key set first), or at once with 0 (a compromised key).
/// The old keys stay published until retired.
pub fn rotate(
    conn: &mut DbConn,
    kek: &Kek,
    origin: Origin<'_>,
    actor: &Actor,
    algs: &[Alg],
    delay_seconds: i64,
) -> Result<Vec<KeyView>, AdminError> {
    let rows = algs
        .iter()
        .map(|alg| keys::rotation(kek, origin.organization_id, *alg, delay_seconds))
        .collect::<Result<Vec<_>, _>>()?;
    write_transaction(conn, |conn| {
        for row in &rows {
            keys::store_rotation(conn, row)?;
            audit::record(
                conn,
                origin,
                actor,
                Change {
                    action: "key.rotate",
                    entity: "key",
                    entity_id: &row.kid,
                    before: None,
                    after: Some(json!(view(row))),
                },
            )?;
        }
        Ok(())
    })?;
    Ok(rows.iter().map(view).collect())
}

/// Takes a published key that no longer signs out of the key set. A key rotated in and still
/// waiting to sign is retired the same way, which cancels that rotation: it never signs, and
/// the active key goes on signing (the audit entry keeps when it was to start).
pub fn retire(
    conn: &mut DbConn,
    origin: Origin<'_>,
    actor: &Actor,
    kid: &str,
) -> Result<(), AdminError> {
    let retired = write_transaction(conn, |conn| {
        let waiting = SigningKeyRow::list_all(conn, origin.organization_id)?
            .into_iter()
            .find(|k| k.kid == kid)
            .and_then(|k| k.activate_at);
        if !SigningKeyRow::retire(conn, origin.organization_id, kid)? {
            return Ok(false);
        }
        let before = match waiting {
            Some(at) => json!({ "state": "published", "activate_at": format_rfc3339(at) }),
            None => json!({ "state": "published" }),
        };
        audit::record(
            conn,
            origin,
            actor,
            Change {
                action: "key.retire",
                entity: "key",
                entity_id: kid,
                before: Some(before),
                after: Some(json!({ "state": "retired" })),
            },
        )?;
        Ok(true)
    })?;
    if retired {
        return Ok(());
    }
    let state = SigningKeyRow::list_all(conn, origin.organization_id)?
        .into_iter()
        .find(|k| k.kid == kid)
        .map(|k| k.state);
    Err(match state.as_deref() {
        None => AdminError::NotFound(format!(
            "no published key '{kid}' in this organization (nor any key of that id)"
        )),
        Some(crate::store::keys::ACTIVE) => AdminError::Conflict(format!(
            "the key '{kid}' signs: an active key cannot be retired (rotate first)"
        )),
        Some(_) => AdminError::Conflict(format!("the key '{kid}' is retired already")),
    })
}
