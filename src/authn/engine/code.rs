//! The authorization code a completed sign-in earns, for the pages and the JSON API alike.

use super::*;

/// Authorization codes live 60 seconds.
pub(super) const CODE_LIFETIME: i64 = 60;

/// Records the grant of a completed sign-in and a one-time code for it (60 seconds, single
/// use, only its SHA-256 kept); returns the code.
pub async fn issue_code(
    core: &Core,
    org: &OrgEntry,
    app: &Application,
    auth: &AuthRequest,
    session: &Session,
    user: &User,
    now: i64,
) -> Result<Secret<String>, CoreError> {
    let code = random_token(32);
    let t = now;
    let grant = Grant {
        id: uuid::Uuid::new_v4().to_string(),
        organization_id: org.org.id,
        application_id: app.id.clone(),
        user_id: Some(user.id.clone()),
        sid: Some(session.sid.clone()),
        scope: auth.scope_string(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        acr: session.acr.clone(),
        nonce: auth.nonce.clone(),
        created_at: t,
        revoked_at: None,
        claims: auth
            .claims
            .as_ref()
            .map(|c| serde_json::to_string(c).expect("claims serialize")),
        resource: auth.resource.clone(),
    };
    let row = AuthorizationCode {
        code_hash: sha256_hex(code.expose()),
        grant_id: grant.id.clone(),
        redirect_uri: auth.redirect_uri.clone(),
        code_challenge: auth.code_challenge.clone(),
        expires_at: t + CODE_LIFETIME,
        used_at: None,
    };
    core.db
        .run(move |conn| {
            write_transaction(conn, |conn| {
                Grant::insert(conn, &grant)?;
                AuthorizationCode::insert(conn, &row)
            })
        })
        .await?;
    Ok(code)
}
