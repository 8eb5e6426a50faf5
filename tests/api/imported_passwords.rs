//! Users imported with password hashes of other systems (bcrypt, PBKDF2 as Keycloak and passlib
//! write it, scrypt): they sign in with their password as it was, their hash becomes argon2id at
//! that sign-in, and importing the same file again keeps the argon2id hash (and their sessions).

use crate::both_backends;
use crate::helpers::{Backend, Browser, TestApp, stderr};
use crate::sms_otp::{PWD_CB, acme_toml, auth_url, code_at, password_step};

const PASSWORD: &str = "correct horse battery staple";

/// Made by other implementations (glibc's crypt(3); Python's hashlib) for [`PASSWORD`].
const HASHES: [(&str, &str); 4] = [
    (
        "from-bcrypt",
        "$2y$04$abcdefghijklmnopqrstuu7EJV7kdjBBQxyb0HjTh9KS7.Lah/6CG",
    ),
    // Keycloak's export: salt and value in standard base64, 27,500 iterations, 64 bytes.
    (
        "from-keycloak",
        "$pbkdf2-sha256$i=27500$MDEyMzQ1Njc4OWFiY2RlZg==$DGzF4+RpmttWHV7FCaK41NYsG4Rc9QqDO8q71k0T1ODS+Ooo+SM5Ep4eJNd+eywW2X+UkNdTatqTScXAD7qm+w==",
    ),
    (
        "from-passlib",
        "$pbkdf2-sha512$25000$MDEyMzQ1Njc4OWFiY2RlZg$1ghj0T0HZWch00LfnhjXx3er7ZDEEN1BF6pxsBlgz/d07d.Qxz5Kg1Oz9g8VdS6ebiSwisnASzPZrBoVE1c39Q",
    ),
    (
        "from-scrypt",
        "$scrypt$ln=12,r=8,p=1$c2FsdHNhbHQ$gQbwBSybziLmCzQtJWPok91wtnVOH4UCyXFJ7xdd8CM",
    ),
];

fn file() -> String {
    let mut file = acme_toml("resend_cooldown_seconds = 0", "max_attempts = 20");
    for (username, hash) in HASHES {
        file += &format!(
            "\n[[organizations.users]]\nusername = \"{username}\"\npassword_hash = \"{hash}\"\n"
        );
    }
    file
}

fn stored_hash(app: &TestApp, username: &str) -> String {
    use sesame::store::organizations::Organization;
    use sesame::store::users::User;
    let mut conn = app.db.get().unwrap();
    let org = Organization::find_by_slug(&mut conn, "acme")
        .unwrap()
        .unwrap();
    let username = sesame::domain::Username::parse(username).unwrap();
    let user = User::find_by_username(&mut conn, org.id, &username)
        .unwrap()
        .unwrap();
    user.password_hash.unwrap()
}

async fn imported_hashes_sign_in_and_become_argon2id(backend: Backend) {
    let app = TestApp::spawn(&backend).await;
    app.import(&file());
    let mut signed_in = Vec::new();
    for (username, hash) in HASHES {
        assert_eq!(stored_hash(&app, username), hash, "stored as imported");
        // A wrong password is refused, and leaves the hash as it is.
        let browser = Browser::default();
        let res = password_step(&app, &browser, "pwd-web", username, "not the password").await;
        assert_eq!(res.status(), 200, "{username}");
        assert!(
            res.text()
                .await
                .unwrap()
                .contains("Wrong username or password.")
        );
        assert_eq!(stored_hash(&app, username), hash);
        // The right one signs in, and the hash is argon2id from then on.
        let browser = Browser::default();
        let res = password_step(&app, &browser, "pwd-web", username, PASSWORD).await;
        code_at(&res, PWD_CB);
        let now = stored_hash(&app, username);
        assert!(now.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{now}");
        let res = password_step(&app, &Browser::default(), "pwd-web", username, PASSWORD).await;
        code_at(&res, PWD_CB);
        assert_eq!(stored_hash(&app, username), now, "rehashed once");
        signed_in.push(browser);
    }
    // The same file again: the argon2id hashes stay, nothing is updated, no session ends.
    let kept: Vec<String> = HASHES.iter().map(|(u, _)| stored_hash(&app, u)).collect();
    let out = app.import(&file());
    assert!(!out.contains("from-"), "no user changed: {out}");
    let again: Vec<String> = HASHES.iter().map(|(u, _)| stored_hash(&app, u)).collect();
    assert_eq!(again, kept);
    // Their sessions go on: the next authorization needs no password.
    for browser in &signed_in {
        let res = browser
            .client
            .get(auth_url(&app, "pwd-web", &[]))
            .send()
            .await
            .unwrap();
        code_at(&res, PWD_CB);
    }
    // A hash too costly to verify at every sign-in is refused with the reason.
    let costly = file().replace("$2y$04$", "$2y$15$");
    let path = app.write_file("costly.toml", &costly);
    let out = app.cli(&["import", path.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("too costly"), "{}", stderr(&out));
}

both_backends!(imported_hashes_sign_in_and_become_argon2id);
