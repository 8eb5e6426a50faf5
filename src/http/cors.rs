//! CORS for the endpoints browsers call directly (token, UserInfo, revocation): allowed for the
//! origins of the organization's registered redirect URIs, and no others. Discovery and the
//! JWKS are public documents and allow any origin themselves.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpResponse, web};

use super::AppState;

/// The organization slug when `path` is one of the CORS-enabled endpoints.
fn cors_target(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/t/")?;
    let (slug, endpoint) = rest.split_once('/')?;
    matches!(endpoint, "token" | "userinfo" | "revoke").then_some(slug)
}

pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let prefix = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.settings.base_url.path().to_string())
        .unwrap_or_default();
    let slug = req
        .path()
        .strip_prefix(prefix.as_str())
        .and_then(cors_target)
        .map(str::to_string);
    let (Some(origin), Some(slug)) = (origin, slug) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let allowed = match req.app_data::<web::Data<AppState>>() {
        Some(state) => match (state.organization(&slug).await, origin.to_str()) {
            (Ok(org), Ok(o)) => org.origins.contains(o),
            _ => false,
        },
        None => false,
    };
    if req.method() == Method::OPTIONS {
        let mut res = HttpResponse::NoContent();
        res.insert_header((header::VARY, "Origin"));
        if allowed {
            res.insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
                .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
                .insert_header((
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    "Authorization, Content-Type",
                ))
                .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"));
        }
        return Ok(req.into_response(res.finish()).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    res.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
    if allowed {
        res.headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        // So a browser app can read why UserInfo answered 401.
        res.headers_mut().insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate"),
        );
    }
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::cors_target;

    #[test]
    fn only_browser_facing_endpoints_get_cors() {
        assert_eq!(cors_target("/t/acme/token"), Some("acme"));
        assert_eq!(cors_target("/t/acme/userinfo"), Some("acme"));
        assert_eq!(cors_target("/t/acme/revoke"), Some("acme"));
        assert_eq!(cors_target("/t/acme/introspect"), None);
        assert_eq!(cors_target("/t/acme/login"), None);
        assert_eq!(cors_target("/healthz"), None);
    }
}
