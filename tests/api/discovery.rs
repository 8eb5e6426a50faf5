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
        assert_eq!(
            doc["acr_values_supported"],
            serde_json::json!(["urn:sesame:acr:password", "urn:sesame:acr:mfa"])
        );

        // Every endpoint the document names exists here (nothing advertised that does not).
        let url = |k: &str| doc[k].as_str().unwrap().to_string();
        assert_eq!(
            app.client
                .get(url("jwks_uri"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            app.client
                .get(url("authorization_endpoint"))
                .send()
                .await
                .unwrap()
                .status(),
            400
        );
        assert_eq!(
            app.client
                .post(url("token_endpoint"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        assert_eq!(
            app.client
                .get(url("userinfo_endpoint"))
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(doc["request_uri_parameter_supported"], false);
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
