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

/// Relying parties that revalidate their cached key set or metadata with `If-None-Match` get a
/// `304` without the body while it is unchanged, and the whole document once it changed.
async fn public_documents_carry_an_etag_and_answer_revalidations(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.import(&acme_toml());
    let mut tags = Vec::new();
    for path in [
        "/t/acme/jwks",
        "/t/acme/.well-known/openid-configuration",
        "/t/default/jwks",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        let etag = res.headers()["etag"].to_str().unwrap().to_string();
        assert!(etag.starts_with('"') && etag.len() > 10, "{path}: {etag}");
        let body = res.bytes().await.unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&body).is_ok());

        for revalidation in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"old\", {etag}"),
        ] {
            let res = app
                .client
                .get(format!("{}{path}", app.address))
                .header("If-None-Match", &revalidation)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 304, "{path} {revalidation}");
            assert_eq!(res.headers()["etag"].to_str().unwrap(), etag);
            assert_eq!(res.headers()["access-control-allow-origin"], "*");
            assert!(res.headers().contains_key("cache-control"));
            assert!(res.bytes().await.unwrap().is_empty());
        }
        let res = app
            .client
            .get(format!("{}{path}", app.address))
            .header("If-None-Match", "\"stale\"")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.bytes().await.unwrap(), body);
        tags.push(etag);
    }
    assert_ne!(tags[0], tags[1]);
    assert_ne!(tags[0], tags[2], "each organization has its own keys");
}

/// Under `/t/{org}`, what no route takes is the JSON 404: an unknown path, the organization's
/// root, and a known path with a method it does not accept.
async fn what_no_route_takes_is_a_json_404(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    for (method, path) in [
        ("GET", "/t/default/nope"),
        ("GET", "/t/default"),
        ("GET", "/t/default/"),
        ("PUT", "/t/default/token"),
        ("GET", "/t/default/token"),
        ("DELETE", "/t/default/jwks"),
        ("GET", "/t/default/federated/x/y"),
        ("GET", "/nope"),
    ] {
        let res = app
            .client
            .request(method.parse().unwrap(), format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{method} {path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{method} {path}");
    }
}

both_backends!(
    each_organization_has_its_own_truthful_issuer,
    unknown_organization_is_a_json_404,
    public_documents_carry_an_etag_and_answer_revalidations,
    what_no_route_takes_is_a_json_404
);
