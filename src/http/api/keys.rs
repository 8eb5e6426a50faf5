//! `/api/v1/organizations/{org}/keys`: the signing keys, rotated and retired as the CLI's
//! `sesame keys` does.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::{ApiProblem, caller, json, json_body, no_content, organization};
use crate::admin::keys::{self as service, KeyView};
use crate::admin::{AdminError, Role};
use crate::http::AppState;
use crate::keys::Alg;

/// What to rotate.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// One algorithm (`RS256`, `ES256`, `EdDSA`); every one when absent.
    pub alg: Option<String>,
    /// Sign with the new key at once (a compromised key). By default the new key is published
    /// first and signs once every node and relying party has had time to fetch it (the key
    /// cache time plus 60 seconds).
    #[serde(default)]
    pub now: bool,
}

#[utoipa::path(
    get,
    path = "/api/v1/organizations/{org}/keys",
    tag = "keys",
    operation_id = "listKeys",
    summary = "List signing keys",
    description = "Active, published and retired, newest first; public parts only. Needs the role viewer.",
    params(("org" = String, Path, description = "The organization's slug")),
    responses((status = 200, description = "The keys", body = Vec<KeyView>))
)]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &path, Role::Viewer).await?;
    let org_id = org.org.id;
    let keys = state
        .db
        .run(move |conn| Ok(service::list(conn, org_id)))
        .await??;
    Ok(json(StatusCode::OK, &keys))
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/{org}/keys/rotate",
    tag = "keys",
    operation_id = "rotateKeys",
    summary = "Rotate signing keys",
    description = "A new key per algorithm; the old one stays published (verifying what it \
                   signed) until retired. Needs the role admin.",
    params(("org" = String, Path, description = "The organization's slug")),
    request_body(content = Option<Rotation>, description = "Empty: every algorithm, published first"),
    responses((status = 200, description = "The new keys", body = Vec<KeyView>))
)]
pub async fn rotate(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiProblem> {
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &path, Role::Admin).await?;
    let rotation: Rotation = if body.is_empty() {
        Rotation::default()
    } else {
        json_body(&req, &body)?
    };
    let keys = rotate_keys(&state, caller.actor, org, rotation).await?;
    Ok(json(StatusCode::OK, &keys))
}

/// Rotates `org`'s keys as `rotation` says, for `actor` (the API's operation and the
/// console's button), and drops this node's cached key set.
pub(crate) async fn rotate_keys(
    state: &AppState,
    actor: crate::admin::Actor,
    org: std::sync::Arc<crate::state::OrgEntry>,
    rotation: Rotation,
) -> Result<Vec<KeyView>, ApiProblem> {
    let algs = match &rotation.alg {
        Some(alg) => vec![Alg::parse(alg).map_err(|e| AdminError::invalid("alg", e))?],
        None => Alg::ALL.to_vec(),
    };
    let delay = if rotation.now {
        0
    } else {
        state.settings.key_cache_ttl.as_secs() as i64 + 60
    };
    let (kek, org_id) = (state.keys.kek().clone(), org.org.id);
    let keys = state
        .db
        .run(move |conn| {
            Ok(service::rotate(
                conn,
                &kek,
                org.event_origin(),
                &actor,
                &algs,
                delay,
            ))
        })
        .await??;
    state.keys.forget(org_id);
    Ok(keys)
}

#[utoipa::path(
    post,
    path = "/api/v1/organizations/{org}/keys/{kid}/retire",
    tag = "keys",
    operation_id = "retireKey",
    summary = "Retire a signing key",
    description = "Takes a published key that no longer signs out of the key set: tokens it \
                   signed stop verifying. A key rotated in and still waiting to sign is retired \
                   too, which cancels that rotation (the active key goes on signing). Needs the \
                   role admin.",
    params(
        ("org" = String, Path, description = "The organization's slug"),
        ("kid" = String, Path, description = "The key's id"),
    ),
    responses(
        (status = 204, description = "Retired"),
        (status = 409, description = "The key signs (rotate first) or is retired already", body = super::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn retire(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiProblem> {
    let (slug, kid) = path.into_inner();
    let caller = caller(&state, &req).await?;
    let org = organization(&state, &caller, &slug, Role::Admin).await?;
    retire_key(&state, caller.actor, org, kid).await?;
    Ok(no_content())
}

/// Retires `org`'s published key `kid` for `actor` (the API's operation and the console's
/// button) and drops this node's cached key set.
pub(crate) async fn retire_key(
    state: &AppState,
    actor: crate::admin::Actor,
    org: std::sync::Arc<crate::state::OrgEntry>,
    kid: String,
) -> Result<(), ApiProblem> {
    // A key id is a thumbprint (base64url); anything else names no key.
    let well_formed = !kid.is_empty()
        && kid.len() <= 128
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(ApiProblem::NotFound("no key of that id here".into()));
    }
    let org_id = org.org.id;
    state
        .db
        .run(move |conn| Ok(service::retire(conn, org.event_origin(), &actor, &kid)))
        .await??;
    state.keys.forget(org_id);
    Ok(())
}
