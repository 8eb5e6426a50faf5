//! SQLite under operations: its write-ahead log stays bounded, and a full disk gives 503s and an
//! unready probe until space is freed (on a small tmpfs the test mounts itself).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::helpers::{Backend, TestApp, TestDb, test_env};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_write_ahead_log_is_limited_and_truncated() {
    let app = TestApp::spawn(&Backend::Sqlite).await;
    let limit: i64 = app
        .db
        .run(|conn| {
            #[derive(diesel::QueryableByName)]
            struct Limit {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                journal_size_limit: i64,
            }
            use diesel::RunQueryDsl;
            Ok(diesel::sql_query("PRAGMA journal_size_limit")
                .get_result::<Limit>(conn)?
                .journal_size_limit)
        })
        .await
        .unwrap();
    assert_eq!(limit, 1024 * 1024);
    app.import(&crate::helpers::acme_toml());
    let _ = app.jwks("acme").await;
    let wal = app.test_db.dir.path().join("sesame.db-wal");
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "writes went to the log"
    );
    app.db.checkpoint().await.unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "truncated");
}

/// Unmounts (lazily: the app may still hold files open) when the test ends.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` with a file there, up to the last byte.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    for size in [64 * 1024, 4096, 512, 1] {
        let chunk = vec![0u8; size];
        while file.write_all(&chunk).is_ok() {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_gives_503_and_unready_until_space_is_freed() {
    let small = tempfile::tempdir().unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(small.path())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but a tmpfs cannot be mounted (needs root): the full-disk test would not run"
        );
        eprintln!("NOT RUN: mounting a small tmpfs needs root (CAP_SYS_ADMIN)");
        return;
    }
    let _unmount = Unmount(small.path().to_path_buf());
    let test_db = TestDb::new(&Backend::Sqlite);
    let url = format!("sqlite://{}", small.path().join("sesame.db").display());
    let env = test_env(&url, test_db.dir.path());
    let app = TestApp::spawn_with(test_db, env).await;
    app.import(&crate::helpers::acme_toml());
    let authorize = format!(
        "{}/t/acme/authorize?client_id=acme-web&redirect_uri=https%3A%2F%2Fapp.acme.example%2Fcallback&response_type=code&scope=openid",
        app.address
    );
    // Each authorization request writes a login transaction.
    assert_eq!(
        app.client.get(&authorize).send().await.unwrap().status(),
        303
    );
    assert_eq!(app.get("/readyz").await.status(), 200);

    let filler = small.path().join("filler");
    fill(&filler);
    let mut refused = None;
    for _ in 0..200 {
        let res = app.client.get(&authorize).send().await.unwrap();
        match res.status().as_u16() {
            303 => continue,
            503 => {
                refused = Some(res);
                break;
            }
            other => panic!("a write on a full disk answered {other}"),
        }
    }
    let refused = refused.expect("a write failed on the full disk");
    assert_eq!(refused.headers()["retry-after"], "5");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let (status, ready) = app.get_json("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(ready["database"], "full");
    assert_eq!(app.get("/readyz").await.status(), 503, "still full");

    std::fs::remove_file(&filler).unwrap();
    let (status, ready) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(
        app.client.get(&authorize).send().await.unwrap().status(),
        303
    );
}
