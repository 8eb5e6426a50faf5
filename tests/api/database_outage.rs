//! The database going away while Sesame runs: 503s and a failing readiness probe, then recovery
//! without a restart. A TCP proxy we can cut stands between Sesame and PostgreSQL (the machine's
//! server is never stopped).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{Backend, TestApp, TestDb, test_env};

/// Forwards loopback connections to `target`; `cut` drops every connection and refuses new ones.
struct Proxy {
    port: u16,
    up: Arc<Mutex<bool>>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(Mutex::new(true));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, conns2) = (up.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if !*up2.lock().unwrap() {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                conns2.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self {
            port,
            up,
            conns,
            accept,
        }
    }

    fn cut(&self) {
        *self.up.lock().unwrap() = false;
        for conn in self.conns.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    fn restore(&self) {
        *self.up.lock().unwrap() = true;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_gives_503_then_service_resumes() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let test_db = TestDb::new(&backend);
    let url = url::Url::parse(&test_db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    let mut env = test_env(
        &test_db.url_via(&format!("127.0.0.1:{}", proxy.port)),
        test_db.dir.path(),
    );
    env.insert("SESAME_DATABASE_POOL_SIZE".into(), "4".into());
    // Answer 503 after one second without the database, not the default five.
    env.insert("SESAME_DATABASE_TIMEOUT".into(), "1".into());
    let app = TestApp::spawn_with(test_db, env).await;

    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(app.get("/t/default/jwks").await.status(), 200);

    proxy.cut();
    let res = app.get("/t/default/jwks").await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let (status, ready) = app.get_json("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(ready["database"], "unreachable");
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "the process itself is alive"
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if app.get("/readyz").await.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "service did not resume after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.get("/t/default/jwks").await.status(), 200);
}

/// The readiness probe has its own one-second limit: a load balancer learns of the outage
/// before the requests' pool timeout (five seconds here) has run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_answers_503_before_the_pool_timeout() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let test_db = TestDb::new(&backend);
    let url = url::Url::parse(&test_db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    let mut env = test_env(
        &test_db.url_via(&format!("127.0.0.1:{}", proxy.port)),
        test_db.dir.path(),
    );
    env.insert("SESAME_DATABASE_TIMEOUT".into(), "5".into());
    let app = TestApp::spawn_with(test_db, env).await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    proxy.cut();
    let started = Instant::now();
    let (status, ready) = app.get_json("/readyz").await;
    let waited = started.elapsed();
    assert_eq!(status, 503);
    assert_eq!(ready["database"], "unreachable");
    assert!(
        waited < Duration::from_secs(4),
        "answered after {waited:?}, not the 5 s pool timeout"
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.get("/readyz").await.status() != 200 {
        assert!(
            Instant::now() < deadline,
            "ready again once the database is back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
