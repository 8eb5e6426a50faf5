use crate::both_backends;
use crate::helpers::{Backend, TestApp, acme_toml};

async fn each_organization_has_its_own_truthful_issuer(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.import(&acme_toml());

    for org in ["default", "acme"] {
        let res = app
            .get(&format!("/t/{org}/.well-known/openid-configuration"))
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        let doc: serde_json::Value = res.json().await.unwrap();
        assert_eq!(doc["issuer"], app.issuer(org));
        assert_eq!(doc["jwks_uri"], format!("{}/jwks", app.issuer(org)));
        assert_eq!(
            doc["subject_types_supported"],
            serde_json::json!(["public"])
        );
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256", "ES256", "EdDSA"])
        );

        // Every URL the document names is served here (nothing advertised that does not exist).
        for (key, value) in doc.as_object().unwrap() {
            if let Some(url) = value
                .as_str()
                .filter(|_| key.ends_with("_uri") || key.ends_with("_endpoint"))
            {
                let res = app.client.get(url).send().await.unwrap();
                assert_eq!(res.status(), 200, "{key} = {url}");
            }
        }
    }
}

async fn unknown_organization_is_a_json_404(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    for org in [
        "nope",
        "Bad%20Slug",
        "a-very-long-slug-that-goes-on-and-on-and-on-and-on-past-sixty-three-chars",
    ] {
        let (status, body) = app.discovery(org).await;
        assert_eq!(status, 404, "{org}");
        assert_eq!(body["error"], "not_found");
        let (status, _) = app.get_json(&format!("/t/{org}/jwks")).await;
        assert_eq!(status, 404);
    }
}

both_backends!(
    each_organization_has_its_own_truthful_issuer,
    unknown_organization_is_a_json_404
);
