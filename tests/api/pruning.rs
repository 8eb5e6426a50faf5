//! `sesame import --prune`: what the file no longer lists in its organizations is deleted after
//! a summary and a confirmation, audited; other organizations, administrators and roles stay.
//! And a dry run's diff, field by field.

use sesame::domain::Username;
use sesame::store::admin::AuditEntry;
use sesame::store::applications::Application;
use sesame::store::organizations::Organization;
use sesame::store::users::User;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, acme_toml, stderr, stdout};

const BETA: &str = "
[[organizations]]
slug = \"beta\"
[[organizations.applications]]
client_id = \"beta-spa\"
type = \"public\"
redirect_uris = [\"https://spa.beta.example/callback\"]
";

/// The administration organization with two service applications (`ops-bot` gets a role).
const ADMIN: &str = "
[[organizations]]
slug = \"admin\"
display_name = \"Administration\"
[[organizations.applications]]
client_id = \"ops-bot\"
type = \"confidential\"
client_secret = \"an-operations-client-secret-0123456789abcdef\"
grant_types = [\"client_credentials\"]
[[organizations.applications]]
client_id = \"stale-bot\"
type = \"confidential\"
client_secret = \"an-operations-client-secret-0123456789abcdef\"
grant_types = [\"client_credentials\"]
";

/// The administration organization listing no application (the key present, empty).
const ADMIN_NO_APPS: &str = "
[[organizations]]
slug = \"admin\"
display_name = \"Administration\"
applications = []
";

/// The client ids of `slug`'s applications.
fn client_ids(app: &TestApp, slug: &str) -> Vec<String> {
    let mut conn = app.db.get().unwrap();
    let org = Organization::find_by_slug(&mut conn, slug)
        .unwrap()
        .unwrap();
    Application::list(&mut conn, org.id)
        .unwrap()
        .into_iter()
        .map(|a| a.client_id.as_str().to_string())
        .collect()
}

fn has_user(app: &TestApp, slug: &str, username: &str) -> bool {
    let mut conn = app.db.get().unwrap();
    let org = Organization::find_by_slug(&mut conn, slug)
        .unwrap()
        .unwrap();
    User::find_by_username(&mut conn, org.id, &Username::parse(username).unwrap())
        .unwrap()
        .is_some()
}

async fn prune_deletes_what_the_file_no_longer_lists_once_confirmed(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.import(&format!("{}{BETA}{ADMIN}", acme_toml()));
    // An administrator (a user of `admin` holding a role), a service application holding one,
    // and the console's application, made as the CLI and the console make them.
    let out = app.cli(&[
        "admin",
        "create",
        "--username",
        "carol",
        "--org",
        "acme",
        "--role",
        "admin",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = app.cli(&["admin", "grant", "--client", "ops-bot", "--role", "system"]);
    assert!(out.status.success(), "{}", stderr(&out));
    {
        let mut conn = app.db.get().unwrap();
        let admin = Organization::find_by_slug(&mut conn, "admin")
            .unwrap()
            .unwrap();
        sesame::admin::console::application(&mut conn, &app.state.settings, &admin).unwrap();
    }
    // The file now lists acme's web app only, acme's users as none, the admin organization's
    // applications as none; beta is not in it.
    let acme_web_only = acme_toml()
        .split("[[organizations.applications]]\nclient_id = \"acme-spa\"")
        .next()
        .unwrap()
        .to_string();
    // Without a `users` key, acme's users are not the file's business: bob is not listed.
    let path = app.write_file("no-users.toml", &format!("{acme_web_only}{ADMIN_NO_APPS}"));
    let out = app.cli(&["import", "--dry-run", "--prune", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("would delete application acme/acme-spa"),
        "{text}"
    );
    assert!(!text.contains("user acme/bob"), "{text}");
    let acme_no_users = acme_web_only.replace(
        "display_name = \"Acme Corp\"\n",
        "display_name = \"Acme Corp\"\nusers = []\n",
    );
    assert_ne!(acme_no_users, acme_web_only);
    let path = app.write_file("pruned.toml", &format!("{acme_no_users}{ADMIN_NO_APPS}"));
    let path = path.to_str().unwrap();

    // Not confirmed (no terminal, no --yes): the summary, then nothing changes.
    let out = app.cli(&["import", "--prune", path]);
    assert!(!out.status.success());
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(
        text.contains("--prune deletes 3 entries")
            && text.contains("  application acme/acme-spa")
            && text.contains("  user acme/bob")
            && text.contains("  application admin/stale-bot"),
        "{text}"
    );
    assert!(err.contains("confirm the deletions with --yes"), "{err}");
    assert_eq!(client_ids(&app, "acme").len(), 2);
    assert!(has_user(&app, "acme", "bob"));

    // A dry run says what would go, and keeps it.
    let out = app.cli(&["import", "--dry-run", "--prune", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("would delete application acme/acme-spa")
            && text.contains("would delete user acme/bob"),
        "{text}"
    );
    for kept in ["beta", "carol", "ops-bot", "admin/console"] {
        assert!(!text.contains(kept), "{kept}: {text}");
    }
    assert!(has_user(&app, "acme", "bob"));

    // Confirmed: deleted, audited; beta's application and the administrator stay.
    let out = app.cli(&["import", "--prune", "--yes", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("deleted   application acme/acme-spa")
            && text.contains("deleted   user acme/bob"),
        "{text}"
    );
    assert_eq!(client_ids(&app, "acme"), vec!["acme-web".to_string()]);
    assert!(!has_user(&app, "acme", "bob"));
    assert_eq!(client_ids(&app, "beta"), vec!["beta-spa".to_string()]);
    assert!(
        has_user(&app, "admin", "carol"),
        "administrators are never pruned"
    );
    assert_eq!(
        client_ids(&app, "admin"),
        vec!["console".to_string(), "ops-bot".to_string()],
        "the console's application and a service application holding a role stay"
    );
    {
        let mut conn = app.db.get().unwrap();
        let admin = Organization::find_by_slug(&mut conn, "admin")
            .unwrap()
            .unwrap();
        let bot = Application::find(&mut conn, admin.id, "ops-bot")
            .unwrap()
            .unwrap();
        let roles = sesame::store::admin::RoleGrant::of(
            &mut conn,
            &sesame::admin::Principal::client(&bot.id),
        )
        .unwrap();
        assert_eq!(roles.len(), 1, "ops-bot keeps its role");
    }
    let mut conn = app.db.get().unwrap();
    let acme = Organization::find_by_slug(&mut conn, "acme")
        .unwrap()
        .unwrap();
    let log = AuditEntry::page(&mut conn, acme.id, None, 50).unwrap();
    for action in ["application.delete", "user.delete"] {
        assert!(
            log.iter().any(|e| e.action == action && e.via == "import"),
            "{action}: {log:?}"
        );
    }
    drop(conn);
    // Nothing left to prune: the same command confirms nothing and changes nothing.
    let out = app.cli(&["import", "--prune", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stdout(&out).contains("--prune deletes"),
        "{}",
        stdout(&out)
    );
    // --yes means nothing without --prune.
    let out = app.cli(&["import", "--yes", path]);
    assert!(!out.status.success());
}

async fn a_dry_run_shows_each_changed_field(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.import(&acme_toml());
    let changed = acme_toml()
        .replace("Acme Corp", "Acme Corporation")
        .replace("bob@acme.example", "robert@acme.example")
        .replace(
            "an-acme-client-secret-of-forty-characters",
            "another-acme-client-secret-of-forty-chars",
        );
    let path = app.write_file("diff.toml", &changed);
    let out = app.cli(&["import", "--dry-run", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("as the audit log would record them")
            && text
                .contains("organization acme: display_name: \"Acme Corp\" → \"Acme Corporation\"")
            && text
                .contains("user acme/bob: email: \"bob@acme.example\" → \"robert@acme.example\"")
            && text.contains(
                "application acme/acme-web: client_secret: \"[redacted]\" → \"[redacted]\"",
            ),
        "{text}"
    );
    for secret in [
        "an-acme-client-secret-of-forty-characters",
        "another-acme-client-secret-of-forty-chars",
    ] {
        assert!(
            !text.contains(secret) && !text.contains(&sesame::secret::sha256_hex(secret)),
            "secrets stay out of the diff: {text}"
        );
    }
}

both_backends!(
    prune_deletes_what_the_file_no_longer_lists_once_confirmed,
    a_dry_run_shows_each_changed_field,
);
