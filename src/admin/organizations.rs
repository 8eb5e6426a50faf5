//! Organizations as administrators see them: each one a principal holds a role in (every one,
//! for the system role), with its settings.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::audit::{Change, Recorder};
use super::{AdminError, Expected, Principal, Role};
use crate::domain::OrgSlug;
use crate::keys::Kek;
use crate::store::organizations::{OrgSettings, Organization};
use crate::store::{DbConn, StoreError, format_rfc3339, write_transaction};

/// An organization and its settings, redacted as the audit log redacts them (credentials held
/// inline — a gateway's headers, body template, URL query — never show).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrganizationView {
    pub slug: String,
    pub display_name: String,
    /// The `organizationId` of its events.
    pub id: i64,
    /// The caller's role in it.
    pub role: Option<Role>,
    /// SMS OTP, lock policy, backup codes, magic links, SMS channel, mail, identity providers,
    /// resources, event sinks.
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

pub fn view(org: &Organization, principal: &Principal) -> OrganizationView {
    OrganizationView {
        slug: org.slug.clone(),
        display_name: org.display_name.clone(),
        id: org.id,
        role: principal.role_in(org.id),
        settings: super::audit::redacted(
            &serde_json::to_value(&org.settings).expect("settings serialize"),
        ),
        created_at: format_rfc3339(org.created_at),
        updated_at: format_rfc3339(org.updated_at),
    }
}

/// The organizations `principal` holds a role in, by slug.
pub fn list(conn: &mut DbConn, principal: &Principal) -> Result<Vec<OrganizationView>, AdminError> {
    Ok(Organization::list(conn)?
        .iter()
        .filter(|o| principal.may(o.id, Role::Viewer))
        .map(|o| view(o, principal))
        .collect())
}

/// The organization with its version (its ETag).
pub fn get(
    conn: &mut DbConn,
    principal: &Principal,
    slug: &str,
) -> Result<(OrganizationView, i64), AdminError> {
    let (org, version) = Organization::find_versioned(conn, slug)?
        .ok_or_else(|| AdminError::NotFound(format!("no organization '{slug}'")))?;
    Ok((view(&org, principal), version))
}

/// The version (the ETag) of an organization just read.
pub fn version(conn: &mut DbConn, org: &Organization) -> Result<i64, StoreError> {
    Organization::version(conn, org.id)?
        .ok_or_else(|| StoreError::Corrupt(format!("organization {} vanished", org.slug)))
}

/// What the audit log records of an organization: its display name and each section of its
/// settings as a field of its own (`settings.sms_otp`), so that an entry shows the sections
/// that changed and not the whole settings twice (the log redacts their secrets).
pub fn audited(display_name: &str, settings: &OrgSettings) -> Value {
    let mut fields = serde_json::Map::new();
    fields.insert("display_name".into(), display_name.into());
    if let Ok(Value::Object(sections)) = serde_json::to_value(settings) {
        for (name, mut section) in sections {
            // A logo is up to 100 KiB of base64: the log keeps the SHA-256 of the image.
            if name == "branding"
                && let Some(logo) = section.get_mut("logo").filter(|l| l.is_string())
            {
                let text = logo.as_str().unwrap_or_default();
                let digest = match crate::branding::Logo::parse(text) {
                    Ok(image) => crate::secret::sha256_hex(&image.bytes),
                    Err(_) => crate::secret::sha256_hex(text),
                };
                *logo = format!("sha256:{digest}").into();
            }
            fields.insert(format!("settings.{name}"), section);
        }
    }
    Value::Object(fields)
}

/// An organization as a merge patch applies to it: the editable fields of [`OrganizationView`],
/// its secrets in clear (the service's own copy, never answered).
fn document(org: &Organization) -> Value {
    json!({ "display_name": org.display_name, "settings": org.settings })
}

/// The fields of an organization a merge patch may change; the others are read-only.
pub const EDITABLE: [&str; 2] = ["display_name", "settings"];

/// The longest display name.
pub const MAX_DISPLAY_NAME: usize = 200;

/// Changes an organization's display name and settings by a JSON merge patch (RFC 7396) of
/// [`OrganizationView`]'s editable fields, if its version is one `expected` allows, checked by
/// the rules and messages of a provisioning file, and audited. A section set to `null` goes
/// back to its defaults. Secrets stay write-only: where the patch holds what the view shows in
/// a secret's place (`[redacted]`, a URL without its credentials), the secret already set is
/// kept — unless the address it goes to (`url`, `discovery_url`, `host`, `callback`) changes
/// beside it, so that nobody can send a secret they never saw somewhere else. A credential
/// given as `{"value": "…"}` is sealed with `kek` (see [`sesame_plugin_api::secret`]). No
/// change, no audit entry, same version.
pub fn update(
    conn: &mut DbConn,
    recorder: &Recorder,
    kek: &Kek,
    principal: &Principal,
    slug: &str,
    expected: &Expected,
    patch: &Value,
) -> Result<(OrganizationView, i64), AdminError> {
    // A concurrent change between reading and claiming the version (PostgreSQL) is taken
    // into account by reading again, when the caller allows any version (`If-Match: *`).
    for _ in 0..3 {
        let outcome = write_transaction(conn, |conn| {
            let Some((old, current)) = Organization::find_versioned(conn, slug)? else {
                return Ok(Err(AdminError::NotFound(format!(
                    "no organization '{slug}'"
                ))));
            };
            if !expected.allows(current) {
                return Ok(Err(stale(current)));
            }
            let (display_name, settings) = match patched(&old, patch, kek) {
                Ok(changed) => changed,
                Err(e) => return Ok(Err(e)),
            };
            if display_name == old.display_name && settings == old.settings {
                return Ok(Ok(Some((view(&old, principal), current))));
            }
            let apps = crate::store::applications::Application::list(conn, old.id)?;
            if let Err(fields) = crate::provisioning::check_applications(&settings, &apps) {
                return Ok(Err(AdminError::Fields(
                    fields
                        .into_iter()
                        .map(|(path, message)| (format!("settings.{path}"), message))
                        .collect(),
                )));
            }
            if !Organization::claim(conn, old.id, &[current])? {
                return Ok(Ok(None));
            }
            Organization::update(conn, old.id, &display_name, &settings)?;
            let new = Organization {
                display_name,
                settings,
                ..old.clone()
            };
            recorder.record(
                conn,
                &new,
                Change {
                    action: "organization.update",
                    entity: "organization",
                    entity_id: &new.slug,
                    before: Some(audited(&old.display_name, &old.settings)),
                    after: Some(audited(&new.display_name, &new.settings)),
                },
            )?;
            let Some((org, version)) = Organization::find_versioned(conn, slug)? else {
                return Ok(Err(AdminError::NotFound(format!(
                    "no organization '{slug}'"
                ))));
            };
            Ok(Ok(Some((view(&org, principal), version))))
        })?;
        match outcome {
            Ok(Some(done)) => return Ok(done),
            Ok(None) if expected.is_any() => continue,
            Ok(None) => return Err(stale_now()),
            Err(e) => return Err(e),
        }
    }
    Err(AdminError::Conflict(
        "the organization kept changing while this change was made: try again".into(),
    ))
}

/// Creates an organization (the system role's), its settings checked like a file's (values of
/// credentials sealed with `kek`); audited.
pub fn create(
    conn: &mut DbConn,
    recorder: &Recorder,
    kek: &Kek,
    principal: &Principal,
    new: NewOrganization,
) -> Result<(OrganizationView, i64), AdminError> {
    let slug = OrgSlug::parse(&new.slug).map_err(|e| AdminError::invalid("slug", e))?;
    let display_name = new.display_name.unwrap_or_else(|| new.slug.clone());
    check_display_name(&display_name)?;
    let settings = match new.settings {
        None => OrgSettings::default(),
        Some(value) => {
            if let Some((path, named)) = new_server_reference(&value, None, "settings") {
                return Err(AdminError::invalid(&path, refused_reference(&named)));
            }
            settings_from(value, kek)?
        }
    };
    write_transaction(conn, |conn| {
        if Organization::find_by_slug(conn, slug.as_str())?.is_some() {
            return Ok(Err(AdminError::Conflict(format!(
                "there is already an organization '{slug}'"
            ))));
        }
        let org = Organization::create(conn, &slug, &display_name, &settings)?;
        recorder.record(
            conn,
            &org,
            Change {
                action: "organization.create",
                entity: "organization",
                entity_id: &org.slug,
                before: None,
                after: Some(audited(&org.display_name, &org.settings)),
            },
        )?;
        let version = version(conn, &org)?;
        Ok(Ok((view(&org, principal), version)))
    })?
}

/// A new organization.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    /// 1-63 of `a-z 0-9 -`; never changes (issuers and tokens name it).
    pub slug: String,
    /// The slug when absent.
    pub display_name: Option<String>,
    /// As an organization's `settings`; defaults when absent.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

fn stale(current: i64) -> AdminError {
    AdminError::Stale(format!(
        "the organization changed since it was read (it is at version \"{current}\"): read it again"
    ))
}

fn stale_now() -> AdminError {
    AdminError::Stale("the organization changed meanwhile: read it again".into())
}

fn check_display_name(name: &str) -> Result<(), AdminError> {
    if name.trim().is_empty() || name.chars().count() > MAX_DISPLAY_NAME {
        return Err(AdminError::invalid(
            "display_name",
            format!("1 to {MAX_DISPLAY_NAME} characters, not only spaces"),
        ));
    }
    Ok(())
}

/// Settings read from JSON, with the values of credentials sealed with `kek`, and checked by the
/// rules of a file; paths start at `settings`.
fn settings_from(value: Value, kek: &Kek) -> Result<OrgSettings, AdminError> {
    let read = sesame_plugin_api::secret::sealing(kek.keyring(), || {
        serde_path_to_error::deserialize::<_, OrgSettings>(value)
    });
    let settings = read.map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "settings".to_string()
        } else {
            format!("settings.{path}")
        };
        AdminError::invalid(&field, e.into_inner().to_string())
    })?;
    crate::provisioning::check_settings(&settings).map_err(|fields| {
        AdminError::Fields(
            fields
                .into_iter()
                .map(|(path, message)| (format!("settings.{path}"), message))
                .collect(),
        )
    })?;
    Ok(settings)
}

/// `org`'s display name and settings with `patch` merged in and its secrets kept (see
/// [`update`]), checked.
fn patched(
    org: &Organization,
    patch: &Value,
    kek: &Kek,
) -> Result<(String, OrgSettings), AdminError> {
    let Value::Object(fields) = patch else {
        return Err(AdminError::invalid(
            "",
            "a merge patch of an organization is a JSON object",
        ));
    };
    if let Some(field) = fields.keys().find(|k| !EDITABLE.contains(&k.as_str())) {
        return Err(AdminError::invalid(
            field,
            "cannot be changed: only display_name and settings can",
        ));
    }
    if fields.get("settings").is_some_and(Value::is_null) {
        return Err(AdminError::invalid(
            "settings",
            "cannot be removed: set a section to null to give it its defaults",
        ));
    }
    let current = document(org);
    let mut merged = current.clone();
    merge(&mut merged, patch, true);
    keep_secrets(&mut merged, &current, &super::audit::redacted(&current));
    if let Some(path) = redaction_left(&merged, "") {
        return Err(AdminError::invalid(
            &path,
            format!(
                "'{}' stands for a secret already set, and none is kept here (new, moved, or \
                 going to another address): send the value",
                super::audit::REDACTED
            ),
        ));
    }
    if let Some((path, named)) = new_server_reference(&merged, Some(&current), "") {
        return Err(AdminError::invalid(&path, refused_reference(&named)));
    }
    let display_name = match merged.get("display_name") {
        Some(Value::String(name)) => name.clone(),
        _ => {
            return Err(AdminError::invalid(
                "display_name",
                "is a string and cannot be removed",
            ));
        }
    };
    check_display_name(&display_name)?;
    let settings = settings_from(merged["settings"].take(), kek)?;
    Ok((display_name, settings))
}

/// Applies a JSON merge patch (RFC 7396 §2) to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    merge(target, patch, false);
}

/// [`merge_patch`]; with `credentials_whole` (an organization's settings), a credential
/// (`{"value": …}`, `{"env": …}`, …) replaces the one there whole, its null members left out:
/// merged, a new value beside the old reference would be neither.
fn merge(target: &mut Value, patch: &Value, credentials_whole: bool) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if credentials_whole && is_credential(patch) {
        *target = Value::Object(
            changes
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        );
        return;
    }
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Value::Object(fields) = target else {
        return;
    };
    for (key, change) in changes {
        if change.is_null() {
            fields.remove(key);
        } else {
            merge(
                fields.entry(key.clone()).or_insert(Value::Null),
                change,
                credentials_whole,
            );
        }
    }
}

/// Whether a field names where an object's secret goes (`url`, `base_url`, `discovery_url`,
/// `host`, `callback`, `…_uri`): a secret is kept only while they stay.
fn is_address(key: &str) -> bool {
    key == "host" || key == "callback" || key.ends_with("url") || key.ends_with("uri")
}

/// Puts back in `merged` the secrets of `current` wherever `merged` holds what `shown` (the
/// redacted view of `current`) shows in their place, at the same path, in an object whose
/// addresses did not change.
fn keep_secrets(merged: &mut Value, current: &Value, shown: &Value) {
    match (merged, current, shown) {
        (Value::Object(m), Value::Object(c), Value::Object(s)) => {
            // An address is the same when sent as it is or as it is shown.
            let moved = m
                .keys()
                .chain(c.keys())
                .filter(|k| is_address(k))
                .any(|a| m.get(a) != c.get(a) && m.get(a) != s.get(a));
            if moved {
                return;
            }
            for (key, value) in m.iter_mut() {
                if let (Some(c), Some(s)) = (c.get(key), s.get(key)) {
                    keep_secrets(value, c, s);
                }
            }
        }
        (Value::Array(m), Value::Array(c), Value::Array(s)) => {
            for ((m, c), s) in m.iter_mut().zip(c).zip(s) {
                keep_secrets(m, c, s);
            }
        }
        (m @ Value::String(_), c, s) if m == s && m != c => *m = c.clone(),
        _ => {}
    }
}

/// Whether `value` has the shape of a credential ([`sesame_plugin_api::SecretRef`]): an object
/// of `env`, `file`, `sealed` or `value` only.
fn is_credential(value: &Value) -> bool {
    value.as_object().is_some_and(|o| {
        !o.is_empty()
            && o.keys()
                .all(|k| matches!(k.as_str(), "env" | "file" | "sealed" | "value"))
    })
}

/// Why a reference is refused: `named` is what it names.
fn refused_reference(named: &Value) -> &'static str {
    if named.get("sealed").is_some() {
        SEALED_ELSEWHERE
    } else {
        SERVER_REFERENCE
    }
}

/// Why a sealed credential is refused where it was not: it may only stay where it was sealed.
const SEALED_ELSEWHERE: &str = "a sealed credential can only stay where it was set, going to \
     the same address: to set one, send {\"value\": \"…\"}";

/// Why a reference to the server's own files or environment is refused.
const SERVER_REFERENCE: &str = "names a file, a directory or an environment variable of the server: \
     only the operator sets these, in the provisioning file (sesame import); here they can only \
     stay as they are";

/// Whether a field names something of the server itself: an environment variable or a file
/// holding a secret (`{"env": …}`, `{"file": …}`), or a path (`dir`, `ca_file`,
/// `credentials_file`). Through the API they could read the server's secrets (its key-encryption
/// key, its database URL) into a gateway's request, or its files into a page. A sealed
/// credential (`{"sealed": …}`) counts too: copied to another gateway it would open there.
fn server_reference(key: &str, value: &Value) -> bool {
    // Whatever else the object holds (a `value`, nulls): naming one is enough to be refused.
    let secret_ref = is_credential(value)
        && ["env", "file", "sealed"]
            .iter()
            .any(|k| value.get(k).is_some_and(|v| !v.is_null()));
    let path = value.is_string()
        && (key == "file"
            || key == "dir"
            || key.ends_with("_file")
            || key.ends_with("_dir")
            || key.ends_with("_path"));
    secret_ref || path
}

/// Where a reference to the server stands: the addresses (`url`, `host`, …) of the objects
/// around it, outermost first — what it would be sent to.
type Addresses = Vec<(String, Value)>;

/// Every reference to the server in `value`: its path, its field, itself, and its addresses.
fn references(
    value: &Value,
    at: &str,
    around: &Addresses,
    out: &mut Vec<(String, String, Value, Addresses)>,
) {
    match value {
        Value::Object(fields) => {
            let mut here = around.clone();
            let mut own: Vec<(String, Value)> = fields
                .iter()
                .filter(|(k, v)| is_address(k) && v.is_string())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            own.sort_by(|a, b| a.0.cmp(&b.0));
            here.extend(own);
            for (key, v) in fields {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                if server_reference(key, v) {
                    // `{"file": F}` and `{"env": null, "file": F}` name the same thing.
                    let named = match v {
                        Value::Object(parts) => Value::Object(
                            parts
                                .iter()
                                .filter(|(_, part)| !part.is_null())
                                .map(|(k, part)| (k.clone(), part.clone()))
                                .collect(),
                        ),
                        other => other.clone(),
                    };
                    out.push((path, key.clone(), named, here.clone()));
                } else {
                    references(v, &path, &here, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                references(v, &format!("{at}[{i}]"), around, out);
            }
        }
        _ => {}
    }
}

/// The path of the first reference to the server in `new` that `current` does not hold — the
/// same field, naming the same thing, going to the same addresses — wherever it stands in
/// `current` (entries may be removed or reordered). A reference whose gateway or provider now
/// sends elsewhere is a new one.
fn new_server_reference(new: &Value, current: Option<&Value>, at: &str) -> Option<(String, Value)> {
    let mut had = Vec::new();
    if let Some(current) = current {
        references(current, at, &Vec::new(), &mut had);
    }
    let mut has = Vec::new();
    references(new, at, &Vec::new(), &mut has);
    has.into_iter()
        .find(|(_, key, value, addresses)| {
            !had.iter()
                .any(|(_, k, v, a)| k == key && v == value && a == addresses)
        })
        .map(|(path, _, named, _)| (path, named))
}

/// The path of the first string still holding the redaction marker.
fn redaction_left(value: &Value, at: &str) -> Option<String> {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    match value {
        Value::String(s) if s.contains(super::audit::REDACTED) => Some(at.to_string()),
        Value::Object(fields) => fields.iter().find_map(|(k, v)| redaction_left(v, &join(k))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| redaction_left(v, &format!("{at}[{i}]"))),
        _ => None,
    }
}
