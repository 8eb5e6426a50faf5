use crate::both_backends;
use crate::helpers::{Backend, TestApp};

async fn probes_answer_and_carry_a_request_id(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    let id = res
        .headers()
        .get("x-request-id")
        .expect("a request id header")
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let second = app.get("/healthz").await;
    assert_ne!(
        second.headers()["x-request-id"].to_str().unwrap(),
        id,
        "ids are per request"
    );

    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready");
}

async fn unknown_paths_get_a_json_404(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let (status, body) = app.get_json("/nothing/here").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "not_found");
}

both_backends!(
    probes_answer_and_carry_a_request_id,
    unknown_paths_get_a_json_404
);
