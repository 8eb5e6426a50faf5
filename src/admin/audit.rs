//! The audit log: what each administrative change did, by whom, from where. An entry is
//! written in the change's own transaction (no change without its entry, no entry without its
//! change) and published on the organization's `ADMIN` topic in Asgardeo's event envelope.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Actor;
use crate::events::{Origin, hub};
use crate::store::admin::{AuditEntry, NewAuditEntry};
use crate::store::organizations::Organization;
use crate::store::subscriptions::Subscription;
use crate::store::{DbConn, StoreError, now};

/// The topic of audited changes.
pub const ADMIN_TOPIC: &str = "ADMIN";

/// The `ADMIN` topic's event: one audited change.
pub const ADMIN_CHANGE: &str = "urn:ietf:params:admin:change";

/// What a redacted value reads as: it changed, but what it is stays out of the log.
pub const REDACTED: &str = "[redacted]";

/// One change to audit.
#[derive(Debug)]
pub struct Change<'a> {
    /// e.g. `user.update`, `user.unlock`.
    pub action: &'a str,
    /// e.g. `user`.
    pub entity: &'a str,
    pub entity_id: &'a str,
    /// The entity before and after, as the API shows it (`None`: it did not exist).
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Writes the audit entry of `change`, made by `actor` in the organization `origin`, and
/// publishes it on the organization's `ADMIN` topic when a subscriber or a sink receives it
/// (without the actor's address and request id, which stay in the log). Call inside the
/// change's transaction.
/// Returns the entry's id.
pub fn record(
    conn: &mut DbConn,
    origin: Origin<'_>,
    actor: &Actor,
    change: Change<'_>,
) -> Result<String, StoreError> {
    let changes = diff(change.before.as_ref(), change.after.as_ref());
    let entry = NewAuditEntry {
        id: uuid::Uuid::new_v4().to_string(),
        organization_id: Some(origin.organization_id),
        actor: actor.principal.clone(),
        actor_name: actor.name.clone(),
        via: actor.via.as_str().into(),
        action: change.action.into(),
        entity: change.entity.into(),
        entity_id: change.entity_id.into(),
        changes: changes.to_string(),
        ip: actor.ip.clone(),
        request_id: actor.request_id.clone(),
        created_at: now(),
    };
    entry.insert(conn)?;
    // The log is the record; the event goes out only to someone who receives the topic (an
    // import of thousands of users fills no outbox that nobody reads).
    let receivers = !origin.sink_targets(ADMIN_TOPIC, false).is_empty()
        || !Subscription::active(conn, origin.organization_id, ADMIN_TOPIC)?.is_empty();
    if !receivers {
        return Ok(entry.id);
    }
    hub::Publish::new(
        origin,
        ADMIN_TOPIC,
        ADMIN_CHANGE,
        "AdminChangeEvent",
        json!({
            "organizationId": origin.organization_id,
            "organizationName": origin.organization_name,
            "auditId": entry.id,
            "actor": entry.actor,
            "actorName": entry.actor_name,
            "via": entry.via,
            "action": entry.action,
            "entity": entry.entity,
            "entityId": entry.entity_id,
            "changes": changes,
        }),
    )
    .store(conn)?;
    Ok(entry.id)
}

/// Writes the audit entries of changes made outside a request (an import, the CLI), where an
/// organization's [`Origin`] is made from its row and the settings.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub actor: Actor,
    base_url: crate::config::BaseUrl,
    delivery_max_age: i64,
}

impl Recorder {
    pub fn new(settings: &crate::config::Settings, actor: Actor) -> Self {
        Self {
            actor,
            base_url: settings.base_url.clone(),
            delivery_max_age: settings.delivery_max_age_seconds,
        }
    }

    /// [`record`]s `change` in `org`'s log.
    pub fn record(
        &self,
        conn: &mut DbConn,
        org: &Organization,
        change: Change<'_>,
    ) -> Result<String, StoreError> {
        record(conn, self.origin_of(org).origin(), &self.actor, change)
    }

    /// Where `org`'s events come from.
    pub fn origin_of(&self, org: &Organization) -> crate::events::OwnedOrigin {
        crate::events::OwnedOrigin::of(&self.base_url, self.delivery_max_age, org.clone())
    }

    pub fn base_url(&self) -> &str {
        self.base_url.as_str()
    }
}

/// The fields that differ between `before` and `after` (objects), each as
/// `{"before": …, "after": …}`; a field absent on one side is `null` there. Secrets are
/// redacted on both sides, so the log says that they changed and never what they are.
pub fn diff(before: Option<&Value>, after: Option<&Value>) -> Value {
    let empty = Map::new();
    let fields = |v: Option<&Value>| v.and_then(Value::as_object).unwrap_or(&empty).clone();
    let (before, after) = (fields(before), fields(after));
    let mut names: Vec<&String> = before.keys().chain(after.keys()).collect();
    names.sort();
    names.dedup();
    let mut changes = Map::new();
    for name in names {
        let (was, is) = (
            before.get(name).unwrap_or(&Value::Null),
            after.get(name).unwrap_or(&Value::Null),
        );
        if was == is {
            continue;
        }
        let shown = |v: &Value| {
            // The field's own rules, as if it were inside an object.
            let one = Value::Object(Map::from_iter([(name.clone(), v.clone())]));
            redacted(&one)[name.as_str()].clone()
        };
        changes.insert(
            name.clone(),
            json!({ "before": shown(was), "after": shown(is) }),
        );
    }
    Value::Object(changes)
}

/// `value` with the values of secret fields redacted, however deep (an organization's
/// settings hold gateways' and upstream providers' credentials): fields named as secrets or
/// holding a sealed credential (`sealed`, whatever the field around it is called), a
/// gateway's header values and body template (which may carry an API key), and the user
/// information and query of URLs (a gateway's `url` or `base_url`, a provider's
/// `discovery_url`, a webhook's `callback`).
pub fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        (_, Value::Null) => Value::Null,
                        (name, _)
                            if is_secret(name) || name == "body_template" || name == "sealed" =>
                        {
                            Value::String(REDACTED.into())
                        }
                        ("headers", Value::Object(headers)) => Value::Object(
                            headers
                                .keys()
                                .map(|h| (h.clone(), Value::String(REDACTED.into())))
                                .collect(),
                        ),
                        (name, Value::String(url))
                            if name == "callback"
                                || name.ends_with("url")
                                || name.ends_with("uri") =>
                        {
                            Value::String(without_credentials(url))
                        }
                        _ => redacted(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        other => other.clone(),
    }
}

/// A URL without its user information and with its query redacted.
fn without_credentials(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return text.to_string();
    };
    if url.password().is_some() || !url.username().is_empty() {
        let _ = url.set_username("");
        let _ = url.set_password(None);
    }
    if url.query().is_some() {
        url.set_query(Some(REDACTED));
    }
    url.to_string()
}

/// Whether a field holds a secret by its name: a password or its hash, a client secret, a
/// token, a private key (not `has_password`, which only says whether there is one).
fn is_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "password"
        || name.ends_with("password_hash")
        || name.contains("secret")
        || name.ends_with("token")
        || name.contains("private")
}

/// One audited change.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: String,
    /// RFC 3339, UTC.
    pub time: String,
    /// `user:{id}` or `client:{application id}` of the administration organization, or `operator`
    /// (the command line).
    pub actor: String,
    pub actor_name: String,
    /// `api`, `console`, `cli` or `import`.
    pub via: String,
    /// e.g. `user.update`.
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    /// Per field changed: `{"before": …, "after": …}`, secrets redacted.
    #[schema(value_type = Object)]
    pub changes: Value,
    pub ip: Option<String>,
    pub request_id: Option<String>,
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRecord>,
    /// Pass as `before` for the next (older) page; absent on the last.
    pub next: Option<i64>,
}

/// A page of the organization's log, newest first: `limit` entries older than `before` (a
/// `seq`), and the `next` page's `before` when there are more.
pub fn page(
    conn: &mut DbConn,
    organization_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<AuditPage, StoreError> {
    let mut entries = AuditEntry::page(conn, organization_id, before, limit + 1)?;
    let more = entries.len() as i64 > limit;
    entries.truncate(usize::try_from(limit).unwrap_or(0));
    let next = more.then(|| entries.last().map(|e| e.seq)).flatten();
    let items = entries
        .into_iter()
        .map(|e| AuditRecord {
            changes: serde_json::from_str(&e.changes).unwrap_or(Value::Null),
            id: e.id,
            time: crate::store::format_rfc3339(e.created_at),
            actor: e.actor,
            actor_name: e.actor_name,
            via: e.via,
            action: e.action,
            entity: e.entity,
            entity_id: e.entity_id,
            ip: e.ip,
            request_id: e.request_id,
        })
        .collect();
    Ok(AuditPage { items, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_names_changed_fields_only_and_redacts_secrets() {
        let before = json!({"email": "a@x.example", "disabled": false, "password_hash": "h1"});
        let after = json!({"email": "b@x.example", "disabled": false, "password_hash": "h2"});
        let d = diff(Some(&before), Some(&after));
        assert_eq!(
            d,
            json!({
                "email": {"before": "a@x.example", "after": "b@x.example"},
                "password_hash": {"before": REDACTED, "after": REDACTED},
            })
        );
        let created = diff(
            None,
            Some(&json!({"username": "eve", "client_secret": "s"})),
        );
        assert_eq!(created["username"], json!({"before": null, "after": "eve"}));
        assert_eq!(
            created["client_secret"],
            json!({"before": null, "after": REDACTED})
        );
        assert!(!d.to_string().contains("h2"));
        let nested = diff(
            Some(&json!({"settings": {"sms": {"gateways": [{"auth_token": "t1"}]}}})),
            Some(&json!({"settings": {"sms": {"gateways": [{"auth_token": "t2", "url": "u"}]}}})),
        );
        assert_eq!(
            nested["settings"]["after"]["sms"]["gateways"][0],
            json!({"auth_token": REDACTED, "url": "u"})
        );
        let gateway = json!({"gateways": [{
            "url": "https://user:pw@sms.example/send?api_key=k1",
            "headers": {"X-Api-Key": "k2"},
            "body_template": "key=k3&to={to}",
            "sender_id": "Acme",
        }]});
        let shown = diff(None, Some(&json!({ "settings": gateway })));
        let text = shown.to_string();
        for secret in ["k1", "k2", "k3", "pw", "user:"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.contains("X-Api-Key") && text.contains("Acme"),
            "{text}"
        );
    }
}
