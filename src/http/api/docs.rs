//! The management API's OpenAPI 3.1 document, generated from the handlers' annotations and
//! their types (utoipa), and a reference page rendered from that same document on the server:
//! no script, no external asset.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{applications, events, keys, organizations, roles, sms, users, webhooks};
use crate::http::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sesame management API",
        description = "Manage Sesame's organizations with an access token of the `admin` \
                       organization for the resource `{base}/api/v1`. Every change is audited. \
                       Errors are RFC 9457 problem bodies.",
    ),
    paths(
        organizations::list,
        organizations::get,
        organizations::create,
        organizations::update,
        applications::list,
        applications::get,
        applications::create,
        applications::update,
        applications::delete,
        applications::new_secret,
        users::list,
        users::create,
        users::get,
        users::update,
        users::delete,
        users::set_password,
        users::unlock,
        users::reset_factors,
        users::end_sessions,
        users::audit,
        keys::list,
        keys::rotate,
        keys::retire,
        events::list,
        events::redeliver,
        roles::list,
        roles::grant,
        roles::revoke,
        sms::test_message,
        webhooks::list,
        webhooks::create,
        webhooks::delete,
    ),
    components(schemas(super::Problem, super::FieldError)),
    tags(
        (name = "organizations", description = "The organizations the caller manages, with their settings"),
        (name = "applications", description = "An organization's applications and their sign-in flows"),
        (name = "users", description = "An organization's users: search, change, unlock, reset factors, end sessions"),
        (name = "keys", description = "Signing keys: listed, rotated, retired"),
        (name = "events", description = "The outbox: events, their deliveries, redelivery"),
        (name = "audit", description = "What changed, who changed it, when and from where"),
        (name = "sms", description = "The SMS channel: a test message through the gateways"),
        (name = "webhooks", description = "An organization's WebSub subscriptions"),
        (name = "roles", description = "Who administers an organization, and with which role"),
    ),
    modifiers(&Common),
    security(("bearer" = [])),
)]
struct ApiDoc;

/// What every operation shares: the bearer scheme, and the problems any of them can answer.
struct Common;

impl Modify for Common {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token of the `admin` organization for `{base}/api/v1`",
                    ))
                    .build(),
            ),
        );
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    super::PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        let common = [
            (
                "400",
                "The request is not acceptable (the problem names the field)",
            ),
            (
                "401",
                "No access token, or one that is not live or not for this API",
            ),
            (
                "403",
                "The caller's role in the organization does not allow this",
            ),
            ("404", "No such organization or entity"),
            ("415", "The body is not JSON"),
            ("500", "An unexpected error (logged with the request id)"),
            (
                "503",
                "The database is unavailable; retry after the time given",
            ),
        ];
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                for (status, description) in common {
                    op.responses
                        .responses
                        .entry(status.to_string())
                        .or_insert_with(|| problem(description).into());
                }
                // Whatever takes If-Match answers 412 to a version the entity has left.
                let takes_if_match = op.parameters.iter().flatten().any(|p| p.name == "If-Match");
                if takes_if_match {
                    op.responses
                        .responses
                        .entry("412".to_string())
                        .or_insert_with(|| {
                            problem("The entity changed since the version If-Match names").into()
                        });
                }
            }
        }
    }
}

/// The document, its server the base URL.
pub fn document(base_url: &str) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serializes");
    doc["servers"] = json!([{ "url": base_url }]);
    doc
}

pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-cache"))
        .json(document(state.settings.base_url.as_str()))
}

/// The reference page: each operation with its parameters, body and answers, each schema with
/// its fields, from the document.
pub async fn reference(state: web::Data<AppState>) -> HttpResponse {
    let doc = document(state.settings.base_url.as_str());
    let mut operations = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in ["get", "post", "put", "patch", "delete"] {
                let op = &item[method];
                if op.is_null() {
                    continue;
                }
                operations.push(json!({
                    "method": method.to_uppercase(),
                    "path": path,
                    "anchor": op["operationId"],
                    "summary": op["summary"],
                    "description": op["description"],
                    "parameters": op["parameters"].as_array().cloned().unwrap_or_default()
                        .iter()
                        .map(|p| json!({
                            "name": p["name"],
                            "in": p["in"],
                            "required": p["required"],
                            "description": p["description"],
                        }))
                        .collect::<Vec<_>>(),
                    "body": op["requestBody"]["content"].as_object().and_then(|c| {
                        c.iter().next().map(|(media, content)| json!({
                            "media": media,
                            "schema": schema_name(&content["schema"]),
                        }))
                    }),
                    "responses": op["responses"].as_object().map(|r| r.iter().map(|(status, resp)| json!({
                        "status": status,
                        "description": resp["description"],
                        "schema": resp["content"].as_object()
                            .and_then(|c| c.values().next())
                            .map(|c| schema_name(&c["schema"])),
                    })).collect::<Vec<_>>()),
                }));
            }
        }
    }
    let schemas: Vec<Value> = doc["components"]["schemas"]
        .as_object()
        .map(|s| {
            s.iter()
                .map(|(name, schema)| {
                    json!({
                        "name": name,
                        "description": schema["description"],
                        "fields": fields(schema),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    state.pages.render(
        StatusCode::OK,
        "api_docs.html",
        minijinja::context! {
            title => doc["info"]["title"],
            description => doc["info"]["description"],
            version => doc["info"]["version"],
            base => state.settings.base_url.as_str(),
            operations,
            schemas,
        },
    )
}

/// A schema's name where it is a reference (`#/components/schemas/X` → `X`), or its type.
fn schema_name(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or(r).to_string();
    }
    if let Some(items) = schema.get("items") {
        return format!("array of {}", schema_name(items));
    }
    match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => schema["oneOf"]
            .as_array()
            .or_else(|| schema["allOf"].as_array())
            .map(|all| {
                all.iter()
                    .map(schema_name)
                    .filter(|n| !n.is_empty())
                    .collect::<Vec<_>>()
                    .join(" or ")
            })
            .unwrap_or_default(),
    }
}

/// A schema's fields (its own, and those of the schemas it is made of), with their types.
fn fields(schema: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(properties) = schema["properties"].as_object() {
        for (name, p) in properties {
            out.push(json!({
                "name": name,
                "type": schema_name(p),
                "required": required.contains(&name.as_str()),
                "description": p["description"],
                "write_only": p["writeOnly"],
            }));
        }
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(fields(part));
    }
    if let Some(values) = schema["enum"].as_array() {
        out.push(json!({
            "name": "(one of)",
            "type": values.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
            "required": true,
        }));
    }
    out
}
