use crate::helpers::{Backend, TestApp, TestDb, test_env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_itself_when_given_a_certificate() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let test_db = TestDb::new(&Backend::Sqlite);
    let cert_path = test_db.dir.path().join("cert.pem");
    let key_path = test_db.dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let mut env = test_env(&test_db.url, test_db.dir.path());
    env.insert("SESAME_TLS_CERT".into(), cert_path.display().to_string());
    env.insert("SESAME_TLS_KEY".into(), key_path.display().to_string());
    let app = TestApp::spawn_with(test_db, env).await;
    assert!(app.address.starts_with("https://localhost:"));

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let res = client
        .get(format!(
            "{}/t/default/.well-known/openid-configuration",
            app.address
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    assert_eq!(doc["issuer"], format!("{}/t/default", app.address));

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::get(format!("http://localhost:{}/healthz", app.port)).await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
}
