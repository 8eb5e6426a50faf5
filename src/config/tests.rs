use super::*;
use std::collections::HashMap;

fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_sources(None, &move |name| map.get(name).cloned())
}

#[test]
fn defaults_are_documented_values() {
    let s = load(&[]).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:9090");
    assert_eq!(s.base_url.as_str(), "http://localhost:9090");
    assert_eq!(
        s.database.url,
        DatabaseUrl::Sqlite(PathBuf::from("data/sesame.db"))
    );
    assert_eq!(s.log.format, LogFormat::Text);
    assert!(s.tls.is_none());
    assert!(s.trusted_proxies.is_empty());
    assert!(matches!(s.key_encryption_key, KeySource::Development(_)));
    assert_eq!(s.database.sqlite_synchronous, SqliteSynchronous::Normal);
}

#[test]
fn sqlite_durability_is_chosen_and_applied() {
    let s = load(&[("SESAME_DATABASE_SQLITE_SYNCHRONOUS", "FULL")]).unwrap();
    assert_eq!(s.database.sqlite_synchronous, SqliteSynchronous::Full);
    assert!(
        s.to_redacted_toml()
            .contains("sqlite_synchronous = \"full\"")
    );
    // The connection really runs with it (SQLite reports FULL as 2, NORMAL as 1).
    #[derive(diesel::QueryableByName)]
    struct Sync {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        synchronous: i32,
    }
    let dir = tempfile::tempdir().unwrap();
    for (choice, expected) in [(SqliteSynchronous::Full, 2), (SqliteSynchronous::Normal, 1)] {
        let settings = DatabaseSettings {
            url: DatabaseUrl::Sqlite(dir.path().join("sync.db")),
            pool_size: 1,
            timeout: Duration::from_secs(5),
            sqlite_synchronous: choice,
        };
        let conn = crate::store::ConnectionManager::for_settings(&settings)
            .establish()
            .unwrap();
        let crate::store::DbConn::Sqlite(mut c) = conn else {
            panic!("sqlite expected")
        };
        use diesel::RunQueryDsl as _;
        let got = diesel::sql_query("PRAGMA synchronous")
            .get_result::<Sync>(&mut c)
            .unwrap();
        assert_eq!(got.synchronous, expected, "{choice:?}");
    }
}

#[test]
fn each_bad_value_names_its_setting() {
    for (name, value) in [
        ("SESAME_LISTEN", "not-an-address"),
        ("SESAME_BASE_URL", "ftp://example.com"),
        ("SESAME_BASE_URL", "https://example.com/?x=1"),
        ("SESAME_BASE_URL", "https://example.com/id//p"),
        ("DATABASE_URL", "mysql://localhost/db"),
        ("SESAME_LOG", "info,[[["),
        ("SESAME_LOG_FORMAT", "xml"),
        ("SESAME_TLS_CERT", "/nonexistent/cert.pem"),
        ("SESAME_TRUSTED_PROXIES", "10.0.0.0/8,banana"),
        ("SESAME_DATABASE_POOL_SIZE", "0"),
        ("SESAME_DATABASE_SQLITE_SYNCHRONOUS", "off"),
        ("SESAME_DELIVERY_CONCURRENCY", "0"),
        ("SESAME_KEY_ENCRYPTION_KEY", "c2hvcnQ="),
    ] {
        let err = load(&[(name, value)]).unwrap_err();
        assert_eq!(err.setting, name, "{value}: {err}");
    }
}

#[test]
fn database_password_never_appears_in_messages() {
    let s = load(&[(
        "DATABASE_URL",
        "postgres://app:s3cretpw@db.example:6543/sesame",
    )])
    .unwrap();
    let shown = format!("{:?} {} {}", s, s.database.url, s.to_redacted_toml());
    assert!(!shown.contains("s3cretpw"), "{shown}");
    let DatabaseUrl::Postgres(pg) = &s.database.url else {
        panic!("postgres expected")
    };
    assert_eq!(pg.host, "db.example:6543");
    assert_eq!(pg.database, "sesame");
    assert!(pg.expose().contains("s3cretpw") && pg.expose().contains("connect_timeout=5"));
    let s = load(&[(
        "DATABASE_URL",
        "postgres://db.example/sesame?password=qu3rysecret&sslmode=require",
    )])
    .unwrap();
    let shown = format!("{} {}", s.database.url, s.to_redacted_toml());
    assert!(
        !shown.contains("qu3rysecret") && shown.contains("sslmode=require"),
        "{shown}"
    );
    // A bad secret value is not echoed back either.
    let err = load(&[("SESAME_KEY_ENCRYPTION_KEY", "!!!notbase64-secretish")]).unwrap_err();
    assert!(!err.to_string().contains("secretish"), "{err}");
}

#[test]
fn sqlite_url_forms() {
    for v in ["sqlite://data/x.db", "sqlite:data/x.db", "data/x.db"] {
        assert_eq!(
            DatabaseUrl::parse(v).unwrap(),
            DatabaseUrl::Sqlite(PathBuf::from("data/x.db"))
        );
    }
    assert!(DatabaseUrl::parse("sqlite::memory:").is_err());
}

#[test]
fn tls_needs_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("c.pem");
    std::fs::write(&cert, "x").unwrap();
    let err = load(&[("SESAME_TLS_CERT", cert.to_str().unwrap())]).unwrap_err();
    assert_eq!(err.setting, "SESAME_TLS_KEY");
}

#[test]
fn environment_overrides_file_and_file_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sesame.toml");
    std::fs::write(
        &path,
        "listen = \"0.0.0.0:1234\"\nbase_url = \"https://id.example.com/\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n[log]\nformat = \"json\"\n",
    )
    .unwrap();
    let env = |name: &str| (name == "SESAME_LISTEN").then(|| "127.0.0.1:5555".to_string());
    let s = Settings::from_sources(Some(&path), &env).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:5555");
    assert_eq!(s.base_url.as_str(), "https://id.example.com");
    assert_eq!(s.base_url.issuer("acme"), "https://id.example.com/t/acme");
    assert_eq!(s.base_url.path(), "");
    let prefixed = BaseUrl::parse("https://example.com/id/").unwrap();
    assert_eq!(prefixed.as_str(), "https://example.com/id");
    assert_eq!(prefixed.path(), "/id");
    assert_eq!(prefixed.issuer("acme"), "https://example.com/id/t/acme");
    assert_eq!(
        BaseUrl::parse("http://localhost:9090/a/b").unwrap().path(),
        "/a/b"
    );
    assert!(BaseUrl::parse("https://example.com/id//x").is_err());
    assert!(BaseUrl::parse("https://example.com/a%20b").is_err());
    assert_eq!(s.log.format, LogFormat::Json);
    assert_eq!(s.trusted_proxies.len(), 1);

    std::fs::write(&path, "[log]\nformat = \"yaml\"\n").unwrap();
    let err = Settings::from_sources(Some(&path), &|_| None).unwrap_err();
    assert!(
        err.setting.contains("log.format") && err.setting.contains("sesame.toml"),
        "{err}"
    );

    std::fs::write(&path, "[keys]\nencryption_kye = \"T0PSECRETKEYVALUE\"\n").unwrap();
    let err = Settings::from_sources(Some(&path), &|_| None).unwrap_err();
    assert!(
        err.to_string().contains("encryption_kye") && err.to_string().contains("line 2"),
        "{err}"
    );
    assert!(!err.to_string().contains("T0PSECRET"), "{err}");

    std::fs::write(&path, "lisen = \"x\"\n").unwrap();
    let err = Settings::from_sources(Some(&path), &|_| None).unwrap_err();
    assert!(err.to_string().contains("lisen"), "{err}");
}

#[test]
fn traces_are_off_unless_an_endpoint_is_set_and_sesame_settings_win() {
    assert!(load(&[]).unwrap().traces.is_none());
    let not_enough = [
        ("OTEL_SERVICE_NAME", "idp"),
        ("SESAME_TRACE_SAMPLE_RATIO", "0.5"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", " "),
    ];
    assert!(load(&not_enough).unwrap().traces.is_none());
    let t = load(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")])
        .unwrap()
        .traces
        .unwrap();
    assert_eq!(t.endpoint.as_str(), "http://collector:4318/v1/traces");
    assert_eq!((t.service_name.as_str(), t.sample_ratio), ("sesame", 1.0));
    // The signal's own variable is used as is, and wins over the general one.
    let t = load(&[
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "https://c.example/custom",
        ),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4318"),
        ("OTEL_SERVICE_NAME", "idp"),
    ])
    .unwrap()
    .traces
    .unwrap();
    assert_eq!(t.endpoint.as_str(), "https://c.example/custom");
    assert_eq!(t.service_name, "idp");
    let t = load(&[
        ("SESAME_OTLP_ENDPOINT", "http://mine:4318/"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://theirs/v1/traces",
        ),
        ("SESAME_SERVICE_NAME", "a"),
        ("OTEL_SERVICE_NAME", "b"),
        ("SESAME_TRACE_SAMPLE_RATIO", "0.25"),
    ])
    .unwrap()
    .traces
    .unwrap();
    assert_eq!(t.endpoint.as_str(), "http://mine:4318/v1/traces");
    assert_eq!((t.service_name.as_str(), t.sample_ratio), ("a", 0.25));
    let t = load(&[("SESAME_OTLP_ENDPOINT", "http://c:4318/v1/traces")]).unwrap();
    assert_eq!(
        t.traces.unwrap().endpoint.as_str(),
        "http://c:4318/v1/traces"
    );
    let disabled = [
        ("SESAME_OTLP_ENDPOINT", "http://c:4318"),
        ("OTEL_SDK_DISABLED", "TRUE"),
    ];
    assert!(load(&disabled).unwrap().traces.is_none());
    for (name, value) in [
        ("SESAME_OTLP_ENDPOINT", "ftp://c:4318"),
        ("SESAME_OTLP_ENDPOINT", "http://user:pw@c:4318"),
        ("SESAME_OTLP_ENDPOINT", "http://c:4318/?token=x"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
        ("SESAME_TRACE_SAMPLE_RATIO", "1.5"),
        ("SESAME_SERVICE_NAME", " "),
    ] {
        let err = load(&[(name, value)]).unwrap_err();
        assert_eq!(err.setting, name, "{value}: {err}");
        assert!(!err.to_string().contains("pw@"), "{err}");
    }
}

#[test]
fn trace_export_headers_come_from_secret_references() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("otlp-token");
    std::fs::write(&token, "Bearer t0psecret-otlp\n").unwrap();
    let path = dir.path().join("sesame.toml");
    std::fs::write(
        &path,
        format!(
            "[traces]\notlp_endpoint = \"https://otlp.example\"\nsample_ratio = 0.1\n\
             [traces.headers]\nauthorization = {{ file = \"{}\" }}\n",
            token.display()
        ),
    )
    .unwrap();
    let s = Settings::from_sources(Some(&path), &|_| None).unwrap();
    let t = s.traces.as_ref().unwrap();
    assert_eq!(t.sample_ratio, 0.1);
    assert_eq!(t.headers.len(), 1);
    assert_eq!(t.headers[0].0, "authorization");
    assert_eq!(t.headers[0].1.expose(), "Bearer t0psecret-otlp");
    let shown = format!("{s:?} {}", s.to_redacted_toml());
    assert!(!shown.contains("t0psecret"), "{shown}");
    let parsed: toml::Value = toml::from_str(&s.to_redacted_toml()).unwrap();
    assert_eq!(
        parsed["traces"]["otlp_endpoint"].as_str(),
        Some("https://otlp.example/v1/traces")
    );
    std::fs::remove_file(&token).unwrap();
    let err = Settings::from_sources(Some(&path), &|_| None).unwrap_err();
    assert!(
        err.setting.contains("traces.headers.authorization"),
        "{err}"
    );
}

#[test]
fn metrics_settings_and_their_token() {
    let s = load(&[]).unwrap();
    assert!(s.metrics.enabled && s.metrics.listen.is_none() && s.metrics.token.is_none());
    let s = load(&[
        ("SESAME_METRICS_ENABLED", "false"),
        ("SESAME_METRICS_LISTEN", "127.0.0.1:9091"),
        ("SESAME_METRICS_TOKEN", "a-scraper-token-0123456789"),
    ])
    .unwrap();
    assert!(!s.metrics.enabled);
    assert_eq!(s.metrics.listen.unwrap().to_string(), "127.0.0.1:9091");
    let shown = format!("{s:?} {}", s.to_redacted_toml());
    assert!(!shown.contains("a-scraper-token"), "{shown}");
    for (name, value) in [
        ("SESAME_METRICS_ENABLED", "maybe"),
        ("SESAME_METRICS_LISTEN", "nowhere"),
        ("SESAME_METRICS_TOKEN", "short-secret"),
        ("SESAME_METRICS_TOKEN_FILE", "/nonexistent/token"),
    ] {
        let err = load(&[(name, value)]).unwrap_err();
        assert_eq!(err.setting, name, "{err}");
        assert!(!err.to_string().contains("short-secret"), "{err}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "a-token-from-a-mounted-file\n").unwrap();
    let s = load(&[("SESAME_METRICS_TOKEN_FILE", file.to_str().unwrap())]).unwrap();
    assert_eq!(
        s.metrics.token.unwrap().expose(),
        "a-token-from-a-mounted-file"
    );
    let both = load(&[
        ("SESAME_METRICS_TOKEN", "a-scraper-token-0123456789"),
        ("SESAME_METRICS_TOKEN_FILE", file.to_str().unwrap()),
    ]);
    assert!(both.is_err());
}

#[test]
fn redacted_toml_is_valid_toml_without_secrets() {
    let s = load(&[(
        "SESAME_KEY_ENCRYPTION_KEY",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    )])
    .unwrap();
    let text = s.to_redacted_toml();
    let parsed: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(
        parsed["keys"]["encryption_key"].as_str(),
        Some("[redacted]")
    );
    assert!(!text.contains("AAECAwQF"));
}
