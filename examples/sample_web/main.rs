//! A sample server-side web app (a relying party) that signs its users in with Sesame: the
//! confidential client `demo-web` of `sesame serve --demo`, written with actix-web and the
//! `openidconnect` crate.
//!
//! It discovers the provider at start, then runs the authorization code flow with PKCE (S256),
//! `state` and `nonce`; verifies the ID token with the library (signature, `iss`, `aud`, `nonce`,
//! `exp`, and `at_hash` when present); shows the ID token's claims as issued and the UserInfo
//! answer; refreshes the tokens on request; and signs out with RP-Initiated Logout (back to `/`
//! with a `state` it checks). Everything a sign-in needs (PKCE verifier, nonce, state) and the
//! signed-in user's tokens stay in this process's memory, keyed by a random session id in an
//! HttpOnly, SameSite=Lax cookie: the browser never holds a token. Nothing is logged per
//! request, since callback URLs carry authorization codes.
//!
//! Run it next to the demo:
//!
//! ```sh
//! cargo run -- serve --demo            # Sesame on http://localhost:9090
//! cargo run --example sample_web       # this app on http://localhost:8080
//! ```
//!
//! then open <http://localhost:8080> and sign in as `alice` / `sesame-demo-password` with the
//! text message code Sesame prints. Settings (environment, demo defaults): `SESAME_ISSUER`
//! (`http://localhost:9090/t/demo`), `CLIENT_ID` (`demo-web`), `CLIENT_SECRET` (the demo's
//! public secret), `LISTEN` (`127.0.0.1:8080`) and `BASE_URL` (`http://localhost:8080`: the
//! redirect URI is `{BASE_URL}/callback`, the post-logout redirect URI `{BASE_URL}/`; both must be
//! registered for the client exactly so).

mod pages;
mod rp;

use std::time::Duration;

use rp::{Provider, Rp, Settings};

/// How long to wait for the provider at start (it may still be starting next to this app).
const DISCOVERY_ATTEMPTS: u32 = 30;

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let settings = Settings {
        issuer: var("SESAME_ISSUER", "http://localhost:9090/t/demo"),
        client_id: var("CLIENT_ID", "demo-web"),
        client_secret: var("CLIENT_SECRET", "demo-web-secret-for-trying-sesame-out"),
        base_url: var("BASE_URL", "http://localhost:8080")
            .trim_end_matches('/')
            .to_string(),
    };
    let listen = var("LISTEN", "127.0.0.1:8080");
    let http = rp::http_client();
    let mut attempt = 1;
    let provider = loop {
        match Provider::discover(&settings, &http).await {
            Ok(provider) => break provider,
            Err(e) if attempt < DISCOVERY_ATTEMPTS => {
                eprintln!(
                    "discovery of {} failed ({e}); trying again",
                    settings.issuer
                );
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                eprintln!("discovery of {} failed: {e}", settings.issuer);
                std::process::exit(1)
            }
        }
    };
    let rp = Rp::new(settings, http, provider);
    let (server, addr) = rp::serve(rp, &listen)?;
    eprintln!("sample web app on http://{addr}/");
    server.await
}
