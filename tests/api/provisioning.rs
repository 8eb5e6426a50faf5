use sesame::demo;
use sesame::domain::Username;
use sesame::secret::{Secret, sha256_hex};
use sesame::store::applications::Application;
use sesame::store::organizations::Organization;
use sesame::store::users::User;
use sesame::store::{DbConn, StoreError};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, acme_toml, stderr, stdout};

struct Snapshot {
    org: Organization,
    apps: Vec<Application>,
    bob: User,
}

fn snapshot(conn: &mut DbConn) -> Snapshot {
    let org = Organization::find_by_slug(conn, "acme")
        .unwrap()
        .expect("acme exists");
    let apps = Application::list(conn, org.id).unwrap();
    let bob = User::find_by_username(conn, org.id, &Username::parse("bob").unwrap())
        .unwrap()
        .unwrap();
    Snapshot { org, apps, bob }
}

async fn importing_the_same_file_twice_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let first = app.import(&acme_toml());
    assert!(first.contains("created   organization acme"), "{first}");
    assert!(first.contains("created   user acme/bob"), "{first}");
    let before = snapshot(&mut app.db.get().unwrap());
    assert_eq!(before.apps.len(), 2);
    assert_eq!(
        before.bob.phone_number.as_ref().unwrap().as_str(),
        "+447400900123"
    );
    assert!(
        uuid::Uuid::parse_str(&before.bob.id).is_ok(),
        "sub is a UUID, not the username"
    );
    assert!(
        before
            .bob
            .password_hash
            .as_deref()
            .unwrap()
            .starts_with("$argon2id$")
    );
    let web = before
        .apps
        .iter()
        .find(|a| a.client_id.as_str() == "acme-web")
        .unwrap();
    assert_eq!(
        web.secret_hash.as_deref(),
        Some(sha256_hex("an-acme-client-secret-of-forty-characters").as_str())
    );

    // Let the clock move so a needless write would show in updated_at.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = app.import(&acme_toml());
    assert!(
        !second.contains("created") && !second.contains("updated"),
        "{second}"
    );
    assert!(second.contains("unchanged 4 entries"), "{second}");
    let after = snapshot(&mut app.db.get().unwrap());
    assert_eq!(after.org, before.org);
    assert_eq!(after.apps, before.apps);
    assert_eq!(
        after.bob, before.bob,
        "the password hash (and its salt) is kept"
    );
}

async fn a_changed_value_is_updated_and_the_subject_stays(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.import(&acme_toml());
    let before = snapshot(&mut app.db.get().unwrap());
    let changed = acme_toml()
        .replace("Acme Corp", "Acme Corporation")
        .replace(
            "https://app.acme.example/callback",
            "https://app.acme.example/cb2",
        )
        .replace("bob@acme.example", "robert@acme.example")
        .replace("bobs-long-password", "bobs-new-long-password");
    let out = app.import(&changed);
    assert!(out.contains("updated   organization acme"), "{out}");
    assert!(out.contains("updated   application acme/acme-web"), "{out}");
    assert!(out.contains("updated   user acme/bob"), "{out}");
    let after = snapshot(&mut app.db.get().unwrap());
    assert_eq!(after.org.display_name, "Acme Corporation");
    assert_eq!(after.org.slug, "acme");
    let web = after
        .apps
        .iter()
        .find(|a| a.client_id.as_str() == "acme-web")
        .unwrap();
    assert_eq!(
        web.redirect_uris[0].as_str(),
        "https://app.acme.example/cb2"
    );
    assert_eq!(after.bob.id, before.bob.id, "sub never changes");
    assert_eq!(
        after.bob.email.as_ref().unwrap().as_str(),
        "robert@acme.example"
    );
    let hash = after.bob.password_hash.as_deref().unwrap();
    assert!(sesame::password::verify(
        hash,
        &Secret::new("bobs-new-long-password".into())
    ));
}

async fn a_dry_run_reports_the_changes_and_keeps_none(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    // On an empty database: everything would be created, nothing is. The web app has no
    // secret in this file, so one would be generated: it is announced, never shown.
    let no_secret = acme_toml().replace(
        "client_secret = \"an-acme-client-secret-of-forty-characters\"\n",
        "",
    );
    assert_ne!(no_secret, acme_toml());
    let path = app.write_file("dry.toml", &no_secret);
    let out = app.cli(&["import", "--dry-run", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("would create organization acme"), "{text}");
    assert!(
        text.contains("would create application acme/acme-web"),
        "{text}"
    );
    assert!(text.contains("would create user acme/bob"), "{text}");
    assert!(
        text.contains("a client secret would be generated for application acme/acme-web"),
        "{text}"
    );
    assert!(text.contains("dry run: nothing was changed"), "{text}");
    assert!(!text.contains("client secret of"), "{text}");
    // A generated secret is printed as a line of its own, 43+ characters without spaces.
    assert!(
        !text
            .lines()
            .any(|l| l.trim().len() >= 43 && !l.trim().contains(' ')),
        "{text}"
    );
    assert!(
        Organization::find_by_slug(&mut app.db.get().unwrap(), "acme")
            .unwrap()
            .is_none(),
        "nothing was created"
    );

    // Over an import: the changes are listed, and the database still holds the old values.
    app.import(&acme_toml());
    let before = snapshot(&mut app.db.get().unwrap());
    let changed = acme_toml()
        .replace("Acme Corp", "Acme Corporation")
        .replace("bob@acme.example", "robert@acme.example");
    let path = app.write_file("dry.toml", &changed);
    let out = app.cli(&["import", "--dry-run", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("would update organization acme"), "{text}");
    assert!(text.contains("would update user acme/bob"), "{text}");
    assert!(!text.contains("would update application"), "{text}");
    let after = snapshot(&mut app.db.get().unwrap());
    assert_eq!(after.org.display_name, before.org.display_name);
    assert_eq!(after.bob.email, before.bob.email);
    assert_eq!(after.bob.updated_at, before.bob.updated_at);

    // A file with an error is refused as without --dry-run.
    let bad = acme_toml().replace("an-acme-client-secret-of-forty-characters", "too-short");
    let path = app.write_file("dry.toml", &bad);
    let out = app.cli(&["import", "--dry-run", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("client_secret: too short"),
        "{}",
        stderr(&out)
    );

    // And the real import then applies what the dry run announced.
    let out = app.import(&changed);
    assert!(out.contains("updated   user acme/bob"), "{out}");
    assert_eq!(
        snapshot(&mut app.db.get().unwrap()).org.display_name,
        "Acme Corporation"
    );
}

async fn generated_secrets_are_shown_once(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let file = acme_toml().replace(
        "client_secret = \"an-acme-client-secret-of-forty-characters\"\n",
        "",
    );
    let out = app.import(&file);
    let secret = out
        .lines()
        .skip_while(|l| !l.starts_with("client secret of application acme/acme-web"))
        .nth(1)
        .expect("the generated secret is printed")
        .trim()
        .to_string();
    assert!(secret.len() >= 43, "256 bits: {secret}");
    let org = Organization::find_by_slug(&mut app.db.get().unwrap(), "acme")
        .unwrap()
        .unwrap();
    let web = Application::find(&mut app.db.get().unwrap(), org.id, "acme-web")
        .unwrap()
        .unwrap();
    assert_eq!(
        web.secret_hash,
        Some(sha256_hex(&secret)),
        "stored as its SHA-256 only"
    );
    let again = app.import(&file);
    assert!(
        !again.contains("client secret of"),
        "not generated or shown again: {again}"
    );
    let web_again = Application::find(&mut app.db.get().unwrap(), org.id, "acme-web")
        .unwrap()
        .unwrap();
    assert_eq!(web_again.secret_hash, web.secret_hash);
}

async fn a_bad_file_is_refused_whole_with_entry_and_field_named(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let bad = format!(
        "{}\n[[organizations]]\nslug = \"other\"\n[[organizations.applications]]\nclient_id = \"x\"\ntype = \"confidential\"\nclient_secret = \"too-short\"\nredirect_uris = [\"https://x.example/cb\"]\n",
        acme_toml()
    );
    let path = app.write_file("bad.toml", &bad);
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("organizations[1] (other).applications[0] (x).client_secret: too short"),
        "{err}"
    );
    // Nothing from the file was written, not even its valid organization.
    assert!(
        Organization::find_by_slug(&mut app.db.get().unwrap(), "acme")
            .unwrap()
            .is_none()
    );

    let out = app.cli(&["import", "/nonexistent/file.toml"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot read /nonexistent/file.toml"));
}

async fn usernames_are_unique_per_organization(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.import(&acme_toml());
    let mut conn = app.db.get().unwrap();
    let bob = snapshot(&mut conn).bob;
    let mut twin = bob.clone();
    twin.id = User::new_id();
    assert!(matches!(
        User::insert(&mut conn, &twin),
        Err(StoreError::Conflict(_))
    ));
    // The same username in another organization is a different user.
    let default = Organization::find_by_slug(&mut conn, "default")
        .unwrap()
        .unwrap();
    twin.organization_id = default.id;
    User::insert(&mut conn, &twin).unwrap();
}

/// What audits the changes a test makes through the library: the operator, importing.
fn operator(app: &TestApp) -> sesame::admin::audit::Recorder {
    sesame::admin::audit::Recorder::new(
        &app.state.settings,
        sesame::admin::Actor::operator(sesame::admin::Via::Import),
    )
}

async fn demo_seed_creates_a_working_demo_once(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    let kek = app.state.keys.kek();
    let recorder = operator(&app);
    let seed = || demo::seed(&mut app.db.get().unwrap(), kek, &recorder);
    let created = seed().unwrap().expect("created on an empty database");
    assert!(
        created
            .report
            .created
            .contains(&"user demo/alice".to_string()),
        "{:?}",
        created.report.created
    );
    assert_eq!(created.backup_codes.len(), 10);
    assert!(seed().unwrap().is_none(), "never re-applied");
    let mut conn = app.db.get().unwrap();
    let org = Organization::find_by_slug(&mut conn, demo::DEMO_ORG)
        .unwrap()
        .unwrap();
    let alice = User::find_by_username(
        &mut conn,
        org.id,
        &Username::parse(demo::DEMO_USERNAME).unwrap(),
    )
    .unwrap()
    .unwrap();
    assert!(alice.phone_number_verified);
    assert!(sesame::password::verify(
        alice.password_hash.as_deref().unwrap(),
        &Secret::new(demo::DEMO_PASSWORD.into())
    ));
    let web = Application::find(&mut conn, org.id, demo::DEMO_WEB_CLIENT_ID)
        .unwrap()
        .unwrap();
    assert_eq!(web.secret_hash, Some(sha256_hex(demo::DEMO_WEB_SECRET)));
    assert!(web.backup_codes);
    assert_eq!(
        web.flow(),
        sesame::authn::flow::SignInFlow::parse(
            &[
                vec!["password".into(), "magic_link".into(), "passkey".into()],
                vec![
                    "sms_otp".into(),
                    "backup_code".into(),
                    "totp".into(),
                    "passkey".into()
                ],
            ],
            true
        )
        .unwrap(),
        "the demo app asks for the password or a sign-in link, then SMS OTP, a backup code, an authenticator app or a passkey; or a passkey alone"
    );
    assert_eq!(
        sesame::store::backup_codes::remaining(&mut conn, &alice.id).unwrap(),
        10
    );
    let (status, doc) = app.discovery("demo").await;
    assert_eq!(status, 200);
    assert_eq!(doc["issuer"], app.issuer("demo"));
    let banner = demo::banner(&app.address, Some(&created));
    assert!(banner.contains("DEMO MODE") && banner.contains(demo::DEMO_PASSWORD));
    assert!(banner.contains(created.backup_codes[0].expose().as_str()));
    assert!(
        banner.contains("/t/demo/authorize?client_id=demo-web&") && banner.contains("sample_web"),
        "the banner shows where to sign in and the sample apps: {banner}"
    );
}

async fn demo_refuses_a_database_with_real_data(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.import(&acme_toml());
    assert!(matches!(
        demo::seed(
            &mut app.db.get().unwrap(),
            app.state.keys.kek(),
            &operator(&app)
        ),
        Err(demo::SeedError::NotEmpty)
    ));
    assert!(
        Organization::find_by_slug(&mut app.db.get().unwrap(), "demo")
            .unwrap()
            .is_none()
    );
    // Through the binary too: exit 1 with the reason, before serving anything.
    let out = app.cli(&["serve", "--demo"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("only seeds an empty database"),
        "{}",
        stderr(&out)
    );
}

async fn sqlite_pragmas_and_foreign_keys_hold_on_pooled_connections(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.import(&acme_toml());
    let mut conn = app.db.get().unwrap();
    let mut orphan = snapshot(&mut conn).bob;
    orphan.id = User::new_id();
    orphan.organization_id = 999_999;
    assert!(
        User::insert(&mut conn, &orphan).is_err(),
        "foreign keys are enforced"
    );
}

both_backends!(
    demo_refuses_a_database_with_real_data,
    sqlite_pragmas_and_foreign_keys_hold_on_pooled_connections,
    importing_the_same_file_twice_changes_nothing,
    a_changed_value_is_updated_and_the_subject_stays,
    generated_secrets_are_shown_once,
    a_dry_run_reports_the_changes_and_keeps_none,
    a_bad_file_is_refused_whole_with_entry_and_field_named,
    usernames_are_unique_per_organization,
    demo_seed_creates_a_working_demo_once,
    a_client_secret_changed_by_an_import_is_refused,
);

/// A client is read afresh at every token request, on every backend: a secret rotated by an
/// import in another process is refused from the next request on (a node's cached copy of the
/// organization, which notifications or its 30 seconds renew, never authenticates a client).
async fn a_client_secret_changed_by_an_import_is_refused(backend: Backend) {
    const OLD: &str = "an-acme-client-secret-of-forty-characters";
    const NEW: &str = "a-rotated-acme-client-secret-of-forty-chr";
    let app = TestApp::spawn(&backend).await;
    app.import(&acme_toml());
    // A token request that gets past client authentication only to fail on its grant.
    let status = |secret: &'static str| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/token", app.issuer("acme")))
                .basic_auth("acme-web", Some(secret))
                .form(&[("grant_type", "authorization_code"), ("code", "unknown")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        status(OLD).await,
        400,
        "authenticated, then an unknown code"
    );
    assert_eq!(status(NEW).await, 401);
    app.import(&acme_toml().replace(OLD, NEW));
    assert_eq!(
        status(OLD).await,
        401,
        "the old secret, right after the import"
    );
    assert_eq!(status(NEW).await, 400);
}

/// On PostgreSQL an import reaches a running node at once: the node drops its cached copy of
/// the organization on the `sesame_organizations` notification, instead of after the cache's
/// 30 seconds (the bound without notifications, as on SQLite). Seen through what the cached
/// copy decides: the origins CORS allows, those of the applications' redirect URIs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_takes_effect_at_once_on_postgresql() {
    let Some(backend) = Backend::postgres() else {
        return;
    };
    let app = TestApp::spawn(&backend).await;
    app.import(&acme_toml());
    let allowed = || async {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/token", app.issuer("acme")),
            )
            .header("Origin", "https://new.acme.example")
            .header("Access-Control-Request-Method", "POST")
            .send()
            .await
            .unwrap()
            .headers()
            .get("access-control-allow-origin")
            .is_some()
    };
    // The organization is cached now, without the new origin.
    assert!(!allowed().await);
    app.import(&acme_toml().replace(
        "redirect_uris = [\"https://app.acme.example/callback\"]",
        "redirect_uris = [\"https://app.acme.example/callback\", \"https://new.acme.example/cb\"]",
    ));
    let start = std::time::Instant::now();
    while !allowed().await {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "the import did not reach the running node within 5 s (the cache keeps 30 s)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
