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

const ADMIN: &str = "
[[organizations]]
slug = \"admin\"
display_name = \"Administration\"
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
    // An administrator (a user of `admin` holding a role), made at the command line.
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
    // The file now lists acme's web app only, and the admin organization without users; beta
    // is not in it.
    let acme_web_only = acme_toml()
        .split("[[organizations.applications]]\nclient_id = \"acme-spa\"")
        .next()
        .unwrap()
        .to_string();
    let path = app.write_file("pruned.toml", &format!("{acme_web_only}{ADMIN}"));
    let path = path.to_str().unwrap();

    // Not confirmed (no terminal, no --yes): the summary, then nothing changes.
    let out = app.cli(&["import", "--prune", path]);
    assert!(!out.status.success());
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(
        text.contains("--prune deletes 2 entries")
            && text.contains("  application acme/acme-spa")
            && text.contains("  user acme/bob"),
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
    assert!(!text.contains("beta") && !text.contains("carol"), "{text}");
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
    assert!(!stdout(&out).contains("deleted"), "{}", stdout(&out));
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
            && text.contains("email: \"bob@acme.example\" → \"robert@acme.example\""),
        "{text}"
    );
    assert!(
        !text.contains("another-acme-client-secret") && !text.contains("an-acme-client-secret"),
        "secrets stay out of the diff: {text}"
    );
}

both_backends!(
    prune_deletes_what_the_file_no_longer_lists_once_confirmed,
    a_dry_run_shows_each_changed_field,
);
