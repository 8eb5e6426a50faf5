//! Connections → SMS channel: where the organization's texts go (the console, its gateways in
//! order, or its webhook subscribers), edited as the section's JSON (secrets shown redacted and
//! kept when sent back as read), and the "send a test message" button.

use serde::Deserialize;

use super::*;
use crate::admin::organizations::OrganizationView;
use crate::admin::{AdminError, Expected};

/// The notices of the page, by what was done.
const DONE: &[(&str, &str)] = &[("saved", "The SMS channel was updated.")];

pub(super) async fn sms_channel(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
) -> HttpResponse {
    let (caller, _) = or_answer!(within(&state, &req, &slug, Role::Viewer).await);
    let said = Said::from_query(&req, DONE);
    channel_page(&state, &req, &caller, &slug, said, None).await
}

/// What a refused form keeps: the text entered, and the version it was read at unless the
/// refusal was that it is gone (then the version read now, so that saving again can work).
struct Entered<'a> {
    text: &'a str,
    version: Option<i64>,
}

async fn channel_page(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
    slug: &str,
    said: Said,
    entered: Option<Entered<'_>>,
) -> HttpResponse {
    let (principal, wanted) = (caller.principal.clone(), slug.to_string());
    let read = state
        .db
        .run(move |conn| Ok(crate::admin::organizations::get(conn, &principal, &wanted)))
        .await;
    let (view, version): (OrganizationView, i64) = or_answer!(found!(state, read));
    let section = &view.settings["sms"];
    let gateways: Vec<Value> = section["gateways"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, g)| {
            let kind = g["type"].as_str().unwrap_or("?");
            json!({
                "label": crate::plugin::gateway_label(kind, i),
                "kind": kind,
                "address": g["url"].as_str().or(g["base_url"].as_str()).unwrap_or(""),
            })
        })
        .collect();
    // A refused text is marked invalid, not the text read beside a refused test message.
    let invalid = entered.is_some() && said.error.is_some();
    let (text, version) = match entered {
        Some(e) => (e.text.to_string(), e.version.unwrap_or(version)),
        None => (
            serde_json::to_string_pretty(section).unwrap_or_default(),
            version,
        ),
    };
    page(
        state,
        said.status(),
        "console_sms_channel.html",
        merged(
            merged(frame(state, req, caller), said.context()),
            json!({
                "org": { "slug": view.slug, "display_name": view.display_name },
                "channel": section["channel"],
                "gateways": gateways,
                "text": text,
                "invalid": invalid,
                "version": version,
                "may_change": caller.principal.may(view.id, role_to_change(&view.slug)),
                "per_hour": crate::admin::sms::TEST_MESSAGES_PER_HOUR,
            }),
        ),
    )
}

/// The channel's form: the section as JSON.
#[derive(Debug, Deserialize)]
pub(super) struct ChannelForm {
    csrf: String,
    version: i64,
    sms: String,
}

/// A merge patch (RFC 7396) that makes the section `new`: what `new` leaves out of `old` is
/// removed, not kept.
fn replacing(old: &Value, new: Value) -> Value {
    match (old, new) {
        (Value::Object(old), Value::Object(mut new)) => {
            for key in old.keys() {
                new.entry(key.clone()).or_insert(Value::Null);
            }
            Value::Object(new)
        }
        (_, new) => new,
    }
}

pub(super) async fn sms_channel_save(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    form: web::Form<ChannelForm>,
) -> HttpResponse {
    let (caller, org) = or_answer!(acting(&state, &req, &slug, Role::Admin, &form.csrf).await);
    let form = form.into_inner();
    let mut entered = Entered {
        text: &form.sms,
        version: Some(form.version),
    };
    let new: Value = match serde_json::from_str(&form.sms) {
        Ok(new) => new,
        Err(e) => {
            let said = Said::refused(&ApiProblem::from(AdminError::invalid(
                "sms",
                format!("not JSON: {e}"),
            )));
            return channel_page(&state, &req, &caller, &slug, said, Some(entered)).await;
        }
    };
    let recorder = crate::admin::audit::Recorder::new(&state.settings, caller.actor.clone());
    let (principal, wanted) = (caller.principal.clone(), slug.clone());
    let expected = Expected::one_of(vec![form.version]);
    let org_id = org.org.id;
    let kek = state.keys.kek().clone();
    let changed = state
        .db
        .run(move |conn| {
            // The keys to remove are those of the section as stored (not this node's cached
            // copy); the update's version check stops a change made since.
            let stored = crate::store::organizations::Organization::find_versioned(conn, &wanted)?
                .filter(|(o, _)| o.id == org_id)
                .map(|(o, _)| serde_json::to_value(&o.settings.sms).unwrap_or_default())
                .unwrap_or_default();
            let patch = json!({ "settings": { "sms": replacing(&stored, new) } });
            Ok(crate::admin::organizations::update(
                conn, &recorder, &kek, &principal, &wanted, &expected, &patch,
            ))
        })
        .await;
    let said = match changed {
        Ok(Ok(_)) => {
            state.forget_organization(&slug);
            return see_other(&url(&state, &format!("/o/{slug}/sms-channel?done=saved")));
        }
        Ok(Err(AdminError::Stale(_))) => {
            entered.version = None;
            Said::refused(&ApiProblem::Conflict(
                "Someone changed this organization's settings since you opened this page: your text is below; save again to keep it.".into(),
            ))
        }
        Ok(Err(e)) => Said::refused(&e.into()),
        Err(e) => Said::refused(&e.into()),
    };
    channel_page(&state, &req, &caller, &slug, said, Some(entered)).await
}

/// The test message's form.
#[derive(Debug, Deserialize)]
pub(super) struct TestMessageForm {
    csrf: String,
    phone_number: String,
}

pub(super) async fn sms_test_message(
    state: web::Data<AppState>,
    req: HttpRequest,
    slug: web::Path<String>,
    form: web::Form<TestMessageForm>,
) -> HttpResponse {
    let (caller, org) = or_answer!(acting(&state, &req, &slug, Role::Admin, &form.csrf).await);
    let form = form.into_inner();
    let sent = api::sms::send(&state, caller.actor.clone(), org, form.phone_number).await;
    let said = match sent {
        Ok(sent) => Said::notice(format!(
            "A test message went to {} through {} (message id {}).",
            sent.to, sent.gateway, sent.message_id
        )),
        Err(problem) => Said::refused(&problem),
    };
    channel_page(&state, &req, &caller, &slug, said, None).await
}
