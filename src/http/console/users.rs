//! An organization's users: search, a user's detail, and the support actions (unlock, reset
//! second factors, end every session) as the API's `support` role allows them.

use serde::Deserialize;

use super::*;
use crate::admin::users::{self as service, UserDetail};
use crate::admin::{AdminError, Expected};
use crate::store::users::UserFilter;

#[derive(Debug, Deserialize)]
pub(super) struct UserSearch {
    /// A username, an email or a mobile number, or a part of one.
    #[serde(default)]
    q: String,
    after: Option<String>,
}

/// What the search box holds, as the listing's filter: an `@` makes it an email, a leading
/// `+` or only digits (and a number's punctuation) a mobile number, anything else a username.
fn filter_of(q: &str) -> UserFilter {
    let q = q.trim();
    let mut filter = UserFilter {
        username: None,
        email: None,
        phone_number: None,
    };
    if q.is_empty() {
        return filter;
    }
    if q.contains('@') {
        filter.email = Some(q.to_string());
    } else if q.starts_with('+') || q.chars().all(|c| c.is_ascii_digit() || " -.()".contains(c)) {
        filter.phone_number = Some(q.chars().filter(|c| !" -.()".contains(*c)).collect());
    } else {
        filter.username = Some(q.to_string());
    }
    filter
}

/// Users per page of the console's listing.
const PAGE: i64 = 50;

pub(super) async fn users(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    search: web::Query<UserSearch>,
) -> HttpResponse {
    let (caller, org) = or_answer!(within(&state, &req, &slug, Role::Viewer).await);
    let search = search.into_inner();
    let (org_id, filter, after) = (org.org.id, filter_of(&search.q), search.after.clone());
    let listed = state
        .db
        .run(move |conn| Ok(service::list(conn, org_id, &filter, after.as_deref(), PAGE)))
        .await;
    let found = or_answer!(found!(&state, listed));
    page(
        &state,
        StatusCode::OK,
        "console_users.html",
        merged(
            frame(&state, &req, &caller),
            json!({
                "org": { "slug": org.org.slug, "display_name": org.org.display_name },
                "q": &search.q,
                "users": found.items,
                "next": found.next.map(|after| {
                    let query = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("q", &search.q)
                        .append_pair("after", &after)
                        .finish();
                    path(&state, &format!("/o/{}/users?{query}", org.org.slug))
                }),
            }),
        ),
    )
}

/// The notices of a user's page, by the action done.
const DONE: &[(&str, &str)] = &[
    (
        "unlock",
        "The account was unlocked: its failed attempts are forgotten.",
    ),
    (
        "reset-factors",
        "The second factors were removed: the mobile number, the backup codes and every enrolled credential.",
    ),
    (
        "end-sessions",
        "Every session of this user ended, and every token issued to them was revoked.",
    ),
];

pub(super) async fn user(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (caller, org) = or_answer!(within(&state, &req, &slug, Role::Viewer).await);
    let said = Said::from_query(&req, DONE);
    user_page(&state, &req, (&caller, &org.org), &id, said).await
}

async fn user_page(
    state: &AppState,
    req: &HttpRequest,
    (caller, org): (&Caller, &crate::store::organizations::Organization),
    id: &str,
    said: Said,
) -> HttpResponse {
    let (org_id, wanted) = (org.id, id.to_string());
    let read = state
        .db
        .run(move |conn| Ok(service::get(conn, org_id, &wanted)))
        .await;
    let detail: UserDetail = or_answer!(found!(state, read));
    let own = caller.principal.id == crate::admin::Principal::user(&detail.summary.id);
    page(
        state,
        said.status(),
        "console_user.html",
        merged(
            merged(frame(state, req, caller), said.context()),
            json!({
                "org": { "slug": org.slug, "display_name": org.display_name },
                "user": detail,
                "own": own,
                "may_support": caller.principal.may(org.id, role_for(&org.slug, Role::Support)),
            }),
        ),
    )
}

/// A support action's form.
#[derive(Debug, Deserialize)]
pub(super) struct UserActionForm {
    csrf: String,
    version: i64,
    /// `unlock`, `reset-factors` or `end-sessions`.
    action: String,
}

pub(super) async fn user_action(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<UserActionForm>,
) -> HttpResponse {
    let (slug, id) = path.into_inner();
    let (caller, org) = or_answer!(acting(&state, &req, &slug, Role::Support, &form.csrf).await);
    type Action = fn(
        &mut crate::store::DbConn,
        crate::events::Origin<'_>,
        &crate::admin::Actor,
        &str,
        &Expected,
    ) -> Result<UserDetail, AdminError>;
    let action: Action = match form.action.as_str() {
        "unlock" => service::unlock,
        "reset-factors" => {
            if let Err(problem) =
                api::users::not_yourself(&caller, &id, "remove the second factors of")
            {
                let said = Said::refused(&problem);
                return user_page(&state, &req, (&caller, &org.org), &id, said).await;
            }
            service::reset_factors
        }
        "end-sessions" => service::end_sessions,
        _ => {
            return problem_page(
                &state,
                &ApiProblem::NotFound("the console has no such action".into()),
            );
        }
    };
    let expected = Expected::one_of(vec![form.version]);
    let (actor, entry, wanted) = (caller.actor.clone(), org.clone(), id.clone());
    let done = state
        .db
        .run(move |conn| {
            Ok(action(
                conn,
                entry.event_origin(),
                &actor,
                &wanted,
                &expected,
            ))
        })
        .await;
    let said = match done {
        Ok(Ok(_)) => {
            return see_other(&url(
                &state,
                &format!("/o/{slug}/users/{id}?done={}", form.action),
            ));
        }
        Ok(Err(AdminError::Stale(_))) => Said::refused(&ApiProblem::Conflict(
            "This user changed since you opened the page: check what it shows now and act again."
                .into(),
        )),
        Ok(Err(e)) => Said::refused(&e.into()),
        Err(e) => Said::refused(&e.into()),
    };
    user_page(&state, &req, (&caller, &org.org), &id, said).await
}
