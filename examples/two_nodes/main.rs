//! The driver of the two-node test (`.ci/two-nodes`): two Sesame nodes on one PostgreSQL behind
//! HAProxy, many sign-ins through the balancer, one node killed with SIGKILL in the middle.
//!
//! ```sh
//! two_nodes ports 4                       # free loopback ports, one a line
//! two_nodes provision --users 200 --sms-url http://127.0.0.1:PORT > provision.toml
//! two_nodes run --balancer http://127.0.0.1:PORT --sms-listen 127.0.0.1:PORT \
//!   --sign-ins 200 --concurrency 8 --kill-after 60 --victim node1 --victim-pid PID
//! ```
//!
//! `run` serves the SMS provider the organization's HTTP gateway posts to, signs user `i` in for
//! every `i` (a full chain each: authorize → password → SMS code → code exchange, the ID token's
//! signature and claims, UserInfo; three in four through the app-native JSON API, one in four
//! through the browser pages with cookies and forms), sends SIGKILL to the victim once `--kill-after` sign-ins have
//! completed while others are mid-chain on it, and prints the figures; it exits 1 when a sign-in
//! failed. `chain.rs` says what a client sees at the kill and what it does about it.

mod chain;
mod run;
mod sms;

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Every user's password (the users differ by name and number).
pub const PASSWORD: &str = "two-nodes-password-of-every-user";
pub const ORG: &str = "nodes";

#[derive(Debug, Parser)]
#[command(about = "Two Sesame nodes behind HAProxy, one killed mid-sign-ins: the driver")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Prints N free TCP ports on 127.0.0.1, one a line.
    Ports { n: usize },
    /// Prints the provisioning file: an organization whose texts go to the HTTP gateway at
    /// SMS_URL, a native app, and USERS users with distinct numbers.
    Provision {
        #[arg(long)]
        users: usize,
        #[arg(long)]
        sms_url: String,
    },
    /// Serves the SMS provider, runs the sign-ins and the kill, prints the figures.
    Run {
        #[arg(long)]
        balancer: String,
        #[arg(long)]
        sms_listen: String,
        #[arg(long, default_value_t = 200)]
        sign_ins: usize,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Kill once this many sign-ins have completed.
        #[arg(long, default_value_t = 60)]
        kill_after: usize,
        /// The victim's server name at the balancer.
        #[arg(long)]
        victim: String,
        #[arg(long)]
        victim_pid: u32,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 240)]
        deadline: u64,
    },
}

/// 32 random bytes, base64url (PKCE verifiers, nonces).
pub fn random_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The provisioning file of the test.
fn provisioning(users: usize, sms_url: &str, password_hash: &str) -> String {
    let mut out = format!(
        r#"[[organizations]]
slug = "{ORG}"
display_name = "Two nodes"

[organizations.sms_otp]
# A new code may be asked at once, and a user (and a number) gets up to 20 texts an hour: a
# sign-in that starts again after the kill sends another code.
resend_cooldown_seconds = 0
resend_attempts = 20
max_failed_attempts = 10

[organizations.sms_otp.limits]
# A load test from one address (HAProxy's): the client and organization limits out of the way,
# no per-country alerts (see the README's SMS limits).
user_per_day = 10000
number_per_day = 10000
ip_per_hour = 1000000
ip_per_day = 10000000
organization_per_hour = 10000000
organization_per_day = 100000000
country_alert_per_hour = 0

[organizations.sms]
channel = "gateways"

[[organizations.sms.gateways]]
type = "http"
url = "{sms_url}/v1/messages"
body_template = '{{"to":"{{to}}","text":"{{message}}"}}'
idempotency_header = "Idempotency-Key"
message_id_pointer = "/id"

[[organizations.applications]]
client_id = "{client}"
name = "Two nodes app"
type = "public"
app_native = true
sign_in_flow = [["password"], ["sms_otp"]]
redirect_uris = ["{redirect}"]

[[organizations.applications]]
client_id = "{web_client}"
name = "Two nodes web app"
type = "public"
sign_in_flow = [["password"], ["sms_otp"]]
redirect_uris = ["{web_redirect}"]
"#,
        client = chain::CLIENT_ID,
        redirect = chain::REDIRECT_URI,
        web_client = chain::WEB_CLIENT_ID,
        web_redirect = chain::WEB_REDIRECT_URI,
    );
    for i in 0..users {
        let user = chain::User::nth(i);
        out.push_str(&format!(
            r#"
[[organizations.users]]
username = "{}"
password_hash = "{password_hash}"
phone_number = "{}"
phone_number_verified = true
"#,
            user.username, user.phone
        ));
    }
    out
}

#[actix_web::main]
async fn main() {
    match Cli::parse().command {
        Cmd::Ports { n } => {
            let listeners: Vec<_> = (0..n)
                .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
                .collect();
            for l in &listeners {
                println!("{}", l.local_addr().expect("bound").port());
            }
        }
        Cmd::Provision { users, sms_url } => {
            // One argon2id hash for every user: hashing 200 passwords would only slow the import.
            let hash = sesame::password::hash(&sesame::secret::Secret::new(PASSWORD.to_string()));
            print!("{}", provisioning(users, &sms_url, &hash));
        }
        Cmd::Run {
            balancer,
            sms_listen,
            sign_ins,
            concurrency,
            kill_after,
            victim,
            victim_pid,
            deadline,
        } => {
            let inbox = match sms::start(&sms_listen) {
                Ok(inbox) => inbox,
                Err(e) => {
                    eprintln!("cannot serve the SMS provider on {sms_listen}: {e}");
                    std::process::exit(2);
                }
            };
            let plan = run::Plan {
                balancer: balancer.trim_end_matches('/').to_string(),
                org: ORG.to_string(),
                sign_ins,
                concurrency,
                kill_after,
                victim_pid,
                victim,
                deadline: Duration::from_secs(deadline),
            };
            let passed = Arc::new(run::Run::new(plan, inbox)).run().await;
            std::process::exit(if passed { 0 } else { 1 });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provisioning_file_is_valid() {
        let hash = sesame::password::hash(&sesame::secret::Secret::new(PASSWORD.to_string()));
        let text = provisioning(3, "http://127.0.0.1:9", &hash);
        let plan = sesame::provisioning::Plan::parse(&text, "two-nodes").expect("a valid file");
        assert!(format!("{plan:?}").contains("user-00002"));
    }

    #[test]
    fn codes_are_read_from_the_message() {
        let text =
            "Your one-time password for the Two nodes app is 042917. This expires in 5 minutes.";
        assert_eq!(sms::code_in(text).as_deref(), Some("042917"));
        assert_eq!(sms::code_in("no code"), None);
    }
}
