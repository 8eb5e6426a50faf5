//! The authorization request: a query string (or form body) parsed as the endpoint does, then
//! validated for a fixed public application with PKCE and a registered API. Any input must give
//! an `AuthRequest` or an `AuthorizeError`, never a panic; an accepted request must keep the
//! promises the endpoint relies on (registered redirect URI, `openid` granted, S256 challenge).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame::domain::{ClientId, ClientType, GrantType, RedirectUri};
use sesame::oidc::authorize::{AuthorizeError, Params, validate};
use sesame::store::applications::{Application, TokenLifetimes};
use sesame::store::organizations::{OrgSettings, Resource};

fn application(client_type: ClientType) -> Application {
    Application {
        id: "app-1".into(),
        organization_id: 1,
        client_id: ClientId::parse("web").unwrap(),
        name: "Web".into(),
        client_type,
        secret_hash: None,
        redirect_uris: vec![
            RedirectUri::parse("https://rp.example/cb").unwrap(),
            RedirectUri::parse("http://127.0.0.1:8080/cb").unwrap(),
        ],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        lifetimes: TokenLifetimes::default(),
        sign_in_flow: None,
        backup_codes: false,
        websub_subscribe: false,
        app_native: false,
        jwks: None,
        id_token_alg: sesame::keys::Alg::RS256,
        access_token_alg: sesame::keys::Alg::RS256,
        third_party: false,
        jwks_uri: None,
        resources: vec!["https://api.example".into()],
        created_at: 0,
        updated_at: 0,
    }
}

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static FIXTURE: (Application, Application, OrgSettings) = (
            application(ClientType::Public),
            application(ClientType::Confidential),
            OrgSettings {
                resources: vec![Resource {
                    identifier: "https://api.example".into(),
                    scopes: vec!["orders:read".into(), "orders:write".into()],
                }],
                ..OrgSettings::default()
            },
        );
    }
    // As `http::read_params` reads a POST body: lossy UTF-8, then URL-encoded pairs.
    let raw = String::from_utf8_lossy(data);
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(&raw) else {
        return;
    };
    let params = Params::from_pairs(pairs);
    if params.control_character().is_some() {
        // The endpoint answers 400 before validating.
        return;
    }
    FIXTURE.with(|(public, confidential, settings)| {
        for app in [None, Some(public), Some(confidential)] {
            match validate(&params, app, settings) {
                Ok(req) => {
                    let app = app.expect("no request is valid without an application");
                    assert!(
                        app.redirect_uris
                            .iter()
                            .any(|u| u.as_str() == req.redirect_uri)
                    );
                    assert!(req.scope.iter().any(|s| s == "openid"));
                    if app.client_type == ClientType::Public {
                        assert!(req.code_challenge.is_some(), "public clients need PKCE");
                    }
                    let _ = req.consent_scopes();
                    let _ = req.scope_string();
                }
                Err(AuthorizeError::Redirect { redirect_uri, .. }) => {
                    let app = app.expect("no redirect without a known application");
                    assert!(app.redirect_uris.iter().any(|u| u.as_str() == redirect_uri));
                }
                Err(AuthorizeError::Page(_)) => {}
            }
        }
    });
});
