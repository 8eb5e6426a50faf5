//! An organization's signing keys: listed (public parts only), rotated, retired.

use serde::Deserialize;

use super::*;
use crate::http::api::keys::{Rotation, retire_key, rotate_keys};

/// The notices of the page, by what was done.
const DONE: &[(&str, &str)] = &[
    (
        "rotated",
        "New keys were made. They are published now and sign once every node and relying party has had time to fetch them; the old keys stay published until you retire them.",
    ),
    (
        "rotated-now",
        "New keys were made and sign at once. The old keys stay published, verifying what they signed, until you retire them.",
    ),
    (
        "retired",
        "The key was retired: it is gone from the key set.",
    ),
];

pub(super) async fn keys(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    let (caller, org) = or_answer!(within(&state, &req, &slug, Role::Viewer).await);
    let said = Said::from_query(&req, DONE);
    keys_page(&state, &req, (&caller, &org.org), said).await
}

async fn keys_page(
    state: &AppState,
    req: &HttpRequest,
    (caller, org): (&Caller, &crate::store::organizations::Organization),
    said: Said,
) -> HttpResponse {
    let org_id = org.id;
    let listed = state
        .db
        .run(move |conn| Ok(crate::admin::keys::list(conn, org_id)))
        .await;
    let keys = or_answer!(found!(state, listed));
    page(
        state,
        said.status(),
        "console_keys.html",
        merged(
            merged(frame(state, req, caller), said.context()),
            json!({
                "org": { "slug": org.slug, "display_name": org.display_name },
                "keys": keys,
                "algs": crate::keys::Alg::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                "may_change": caller.principal.may(org.id, role_to_change(&org.slug)),
            }),
        ),
    )
}

/// The rotation's form: an algorithm (every one when empty), and whether to sign at once.
#[derive(Debug, Deserialize)]
pub(super) struct RotateForm {
    csrf: String,
    #[serde(default)]
    alg: String,
    now: Option<String>,
}

pub(super) async fn keys_rotate(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    form: web::Form<RotateForm>,
) -> HttpResponse {
    let (caller, org) = or_answer!(acting(&state, &req, &slug, Role::Admin, &form.csrf).await);
    let form = form.into_inner();
    let now = form.now.is_some();
    let rotation = Rotation {
        alg: (!form.alg.is_empty()).then_some(form.alg),
        now,
    };
    let entry = org.clone();
    match rotate_keys(&state, caller.actor.clone(), entry, rotation).await {
        Ok(_) => {
            let done = if now { "rotated-now" } else { "rotated" };
            see_other(&url(&state, &format!("/o/{slug}/keys?done={done}")))
        }
        Err(problem) => keys_page(&state, &req, (&caller, &org.org), Said::refused(&problem)).await,
    }
}

pub(super) async fn key_retire(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<TokenOnly>,
) -> HttpResponse {
    let (slug, kid) = path.into_inner();
    let (caller, org) = or_answer!(acting(&state, &req, &slug, Role::Admin, &form.csrf).await);
    match retire_key(&state, caller.actor.clone(), org.clone(), kid).await {
        Ok(()) => see_other(&url(&state, &format!("/o/{slug}/keys?done=retired"))),
        Err(problem) => keys_page(&state, &req, (&caller, &org.org), Said::refused(&problem)).await,
    }
}
