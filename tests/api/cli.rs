use std::collections::HashMap;

use crate::helpers::{TEST_KEK, cli, stderr, stdout};

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_bad_setting_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    for (name, value) in [
        ("SESAME_LISTEN", "localhost-9090"),
        ("SESAME_BASE_URL", "not a url"),
        ("SESAME_LOG_FORMAT", "yaml"),
        ("SESAME_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("DATABASE_URL", "mysql://db/sesame"),
        ("SESAME_TLS_KEY", "/does/not/exist.pem"),
    ] {
        let out = cli(
            &env(&[(name, value), ("SESAME_DATA_DIR", &data)]),
            &["serve"],
        );
        assert_eq!(
            out.status.code(),
            Some(2),
            "{name}={value}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(name), "{name}: {}", stderr(&out));
    }
    let config = dir.path().join("sesame.toml");
    std::fs::write(&config, "[database]\npool_size = 0\n").unwrap();
    let out = cli(
        &env(&[("SESAME_DATA_DIR", &data)]),
        &["serve", "--config", config.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("database.pool_size") && stderr(&out).contains("sesame.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_unreachable_database_is_named_without_its_password() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let out = cli(
        &env(&[
            (
                "DATABASE_URL",
                "postgres://sesame:hunter2secret@127.0.0.1:1/idp_prod",
            ),
            ("SESAME_KEY_ENCRYPTION_KEY", TEST_KEK),
        ]),
        &["serve"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("127.0.0.1:1") && err.contains("idp_prod"),
        "{err}"
    );
    assert!(!err.contains("hunter2secret"), "{err}");
    assert!(!stdout(&out).contains("hunter2secret"));
}

#[test]
fn config_show_prints_effective_settings_with_secrets_redacted() {
    let out = cli(
        &env(&[
            (
                "DATABASE_URL",
                "postgres://sesame:hunter2secret@db.internal:5433/sesame",
            ),
            ("SESAME_KEY_ENCRYPTION_KEY", TEST_KEK),
            ("SESAME_LISTEN", "0.0.0.0:8443"),
        ]),
        &["config", "show"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let parsed: toml::Value = toml::from_str(&text).expect("config show prints TOML");
    assert_eq!(parsed["listen"].as_str(), Some("0.0.0.0:8443"));
    assert!(
        parsed["database"]["url"]
            .as_str()
            .unwrap()
            .contains("db.internal:5433")
    );
    assert!(
        !text.contains("hunter2secret") && !text.contains(TEST_KEK),
        "{text}"
    );
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["import", "--help"],
        vec!["keys", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["keys", "retire", "--help"],
        vec!["config", "--help"],
        vec!["config", "show", "--help"],
    ] {
        let out = cli(&HashMap::new(), &args);
        assert!(out.status.success(), "{args:?}");
        assert!(
            stdout(&out).contains("Usage: sesame"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn migrate_applies_once_and_the_default_database_is_sqlite_under_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let vars = env(&[("SESAME_DATA_DIR", &dir.path().display().to_string())]);
    let out = cli(&vars, &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("applied 20261128000001"),
        "{}",
        stdout(&out)
    );
    assert!(dir.path().join("sesame.db").is_file());
    let again = cli(&vars, &["migrate"]);
    assert!(
        stdout(&again).contains("database is up to date"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn a_kid_starting_with_a_hyphen_is_a_value_not_a_flag() {
    // Thumbprints are base64url: about one in 32 starts with '-'.
    let dir = tempfile::tempdir().unwrap();
    let vars = env(&[("SESAME_DATA_DIR", &dir.path().display().to_string())]);
    let out = cli(
        &vars,
        &["keys", "retire", "--org", "default", "--kid", "-0abc"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no published key '-0abc'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn completions_name_the_real_subcommands_for_each_shell() {
    // A bad setting does not stop them: they need no configuration.
    let vars = env(&[("SESAME_LISTEN", "not-an-address")]);
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef sesame"),
        ("fish", "complete -c sesame"),
        ("elvish", "edit:completion"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = cli(&vars, &["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: {script}");
        for sub in ["serve", "backup", "backup-codes", "rotate", "healthcheck"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let out = cli(&vars, &["completions", "tcsh"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn man_writes_a_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man1");
    let out = cli(&HashMap::new(), &["man", "--dir", man.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut pages: Vec<String> = std::fs::read_dir(&man)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    pages.sort();
    for page in [
        "sesame.1",
        "sesame-serve.1",
        "sesame-backup.1",
        "sesame-keys-rotate.1",
        "sesame-events-redeliver.1",
        "sesame-completions.1",
    ] {
        assert!(pages.iter().any(|p| p == page), "{page} not in {pages:?}");
    }
    let root = std::fs::read_to_string(man.join("sesame.1")).unwrap();
    assert!(root.contains(".TH sesame 1"), "{root}");
    assert!(root.contains("sesame\\-backup\\-codes(1)"), "{root}");
    let backup = std::fs::read_to_string(man.join("sesame-backup.1")).unwrap();
    assert!(backup.contains("pg_dump"), "{backup}");
    assert!(backup.contains("\\-\\-to"), "{backup}");
}

#[test]
fn healthcheck_fails_without_a_server_and_passes_against_one() {
    // Nothing listens on port 1.
    let out = cli(&env(&[("SESAME_LISTEN", "127.0.0.1:1")]), &["healthcheck"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("http://127.0.0.1:1/healthz"),
        "{}",
        stderr(&out)
    );
    // A one-shot HTTP server answering 200, then one answering 503.
    for (status, code) in [("200 OK", Some(0)), ("503 Service Unavailable", Some(1))] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = stream.read(&mut buf).unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).into_owned();
            write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            .unwrap();
            request
        });
        let listen = format!("0.0.0.0:{port}");
        let out = cli(&env(&[("SESAME_LISTEN", &listen)]), &["healthcheck"]);
        assert_eq!(out.status.code(), code, "{status}: {}", stderr(&out));
        let request = server.join().unwrap();
        assert!(request.starts_with("GET /healthz "), "{request}");
    }
}
