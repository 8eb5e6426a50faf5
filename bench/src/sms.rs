//! The SMS provider on loopback: Sesame's HTTP gateway posts each text message here as
//! `{"to", "text"}`; the sign-in waiting for that number gets the code. Each in-flight sign-in
//! has its own user and number, so a number has at most one waiter.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use tokio::sync::oneshot;

#[derive(Debug, Default)]
struct State {
    waiting: HashMap<String, oneshot::Sender<String>>,
    received: u64,
    /// Messages nobody waited for (late, or for a sign-in that had given up).
    unexpected: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Inbox {
    state: Arc<Mutex<State>>,
}

/// A code on its way to one number.
#[derive(Debug)]
pub struct Awaited(oneshot::Receiver<String>);

impl Awaited {
    pub async fn code(self, wait: Duration) -> Result<String, String> {
        match tokio::time::timeout(wait, self.0).await {
            Ok(Ok(code)) => Ok(code),
            Ok(Err(_)) => Err("the SMS waiter was replaced".into()),
            Err(_) => Err(format!("no text message within {wait:?}")),
        }
    }
}

impl Inbox {
    /// Call before the request that sends the code.
    pub fn expect(&self, number: &str) -> Awaited {
        let (tx, rx) = oneshot::channel();
        self.state
            .lock()
            .expect("inbox lock")
            .waiting
            .insert(number.to_string(), tx);
        Awaited(rx)
    }

    /// (received, unexpected)
    pub fn counts(&self) -> (u64, u64) {
        let s = self.state.lock().expect("inbox lock");
        (s.received, s.unexpected)
    }

    fn deliver(&self, to: &str, code: String) {
        let mut s = self.state.lock().expect("inbox lock");
        s.received += 1;
        match s.waiting.remove(to) {
            Some(waiter) => {
                if waiter.send(code).is_err() {
                    s.unexpected += 1;
                }
            }
            None => s.unexpected += 1,
        }
    }
}

/// The first run of six or more digits in a message: the code (Sesame's default template
/// "Your one-time password for the {app} is {code}. …", with an app name without digits).
pub fn code_in(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() >= 6)
        .map(str::to_string)
}

async fn receive(inbox: web::Data<Inbox>, body: web::Bytes) -> HttpResponse {
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return HttpResponse::BadRequest().body("not JSON");
    };
    let (Some(to), Some(code)) = (
        message["to"].as_str(),
        message["text"].as_str().and_then(code_in),
    ) else {
        return HttpResponse::BadRequest().body("no number or no code");
    };
    inbox.deliver(to, code);
    HttpResponse::Ok()
        .content_type("application/json")
        .body(format!("{{\"id\":\"m-{}\"}}", inbox.counts().0))
}

/// Serves the provider on a free loopback port, on its own thread (actix runs its own
/// runtime); returns the inbox and the port. It lives as long as the process.
pub fn start() -> Result<(Inbox, u16), String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let inbox = Inbox::default();
    let shared = inbox.clone();
    std::thread::Builder::new()
        .name("sms-receiver".into())
        .spawn(move || {
            let system = actix_web::rt::System::new();
            let result = system.block_on(async move {
                HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(shared.clone()))
                        .route("/v1/messages", web::post().to(receive))
                })
                .workers(1)
                // Longer than Sesame's outbound pool keeps a connection idle between rounds.
                .keep_alive(Duration::from_secs(120))
                .disable_signals()
                .listen(listener)?
                .run()
                .await
            });
            if let Err(e) = result {
                eprintln!("the SMS receiver stopped: {e}");
            }
        })
        .map_err(|e| e.to_string())?;
    Ok((inbox, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_the_first_long_run_of_digits() {
        assert_eq!(
            code_in(
                "Your one-time password for the Bench web is 042917. This expires in 5 minutes."
            )
            .as_deref(),
            Some("042917")
        );
        assert_eq!(code_in("5 minutes"), None);
    }

    #[tokio::test]
    async fn a_waiter_gets_its_number_s_code_and_others_are_counted() {
        let inbox = Inbox::default();
        let waiting = inbox.expect("+14155000001");
        inbox.deliver("+14155000002", "111111".into());
        inbox.deliver("+14155000001", "222222".into());
        assert_eq!(
            waiting.code(Duration::from_secs(1)).await.as_deref(),
            Ok("222222")
        );
        assert_eq!(inbox.counts(), (2, 1));
    }
}
