//! An organization's audit log, newest first, a page at a time.

use serde::Deserialize;

use super::*;

#[derive(Debug, Deserialize)]
pub(super) struct AuditQuery {
    before: Option<i64>,
}

/// The organization's audit log, newest first, a page at a time.
pub(super) async fn audit(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> HttpResponse {
    let (caller, org) = or_answer!(within(&state, &req, &slug, Role::Viewer).await);
    let (org_id, before) = (org.org.id, query.before);
    let page_read = state
        .db
        .run(move |conn| crate::admin::audit::page(conn, org_id, before, 50))
        .await;
    let log = match page_read {
        Ok(log) => log,
        Err(e) => return problem_page(&state, &e.into()),
    };
    // Each change's values as JSON text, for the page to show as they are.
    let items: Vec<Value> = log
        .items
        .iter()
        .map(|e| {
            let changes: Vec<Value> = e
                .changes
                .as_object()
                .into_iter()
                .flatten()
                .map(|(field, change)| {
                    json!({
                        "field": field,
                        "before": change["before"].to_string(),
                        "after": change["after"].to_string(),
                    })
                })
                .collect();
            merged(
                serde_json::to_value(e).unwrap_or_default(),
                json!({ "changes": changes }),
            )
        })
        .collect();
    page(
        &state,
        StatusCode::OK,
        "console_audit.html",
        merged(
            frame(&state, &req, &caller),
            json!({
                "org": { "slug": org.org.slug, "display_name": org.org.display_name },
                "audit": { "items": items, "next": log.next },
            }),
        ),
    )
}
