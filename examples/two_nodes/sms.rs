//! The SMS provider on loopback: the organization's HTTP gateway posts every text message here
//! (`{"to", "text"}` as JSON); the driver reads the codes by number.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Deserialize;
use tokio::sync::watch;

#[derive(Debug, Deserialize)]
struct Message {
    to: String,
    text: String,
}

/// Every code received, by number, in order of arrival; a counter wakes the waiters.
#[derive(Debug, Clone)]
pub struct Inbox {
    codes: Arc<Mutex<HashMap<String, Vec<String>>>>,
    received: Arc<watch::Sender<u64>>,
}

impl Inbox {
    fn new() -> Self {
        Self {
            codes: Arc::default(),
            received: Arc::new(watch::channel(0).0),
        }
    }

    /// How many codes `number` has received so far: a mark to wait past.
    pub fn mark(&self, number: &str) -> usize {
        self.codes
            .lock()
            .expect("inbox lock")
            .get(number)
            .map_or(0, Vec::len)
    }

    /// The newest code `number` received after `mark`, waiting up to `wait` for one.
    pub async fn code_after(&self, number: &str, mark: usize, wait: Duration) -> Option<String> {
        let mut changes = self.received.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let newest = self
                .codes
                .lock()
                .expect("inbox lock")
                .get(number)
                .filter(|codes| codes.len() > mark)
                .and_then(|codes| codes.last().cloned());
            if newest.is_some() {
                return newest;
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return None;
            }
        }
    }

    pub fn total(&self) -> u64 {
        *self.received.borrow()
    }
}

/// The first run of six or more digits in a message: the code.
pub fn code_in(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() >= 6)
        .map(str::to_string)
}

/// Serves the provider on `listen` (in the background) and returns its inbox.
pub fn start(listen: &str) -> std::io::Result<Inbox> {
    let inbox = Inbox::new();
    let shared = inbox.clone();
    let server = HttpServer::new(move || {
        let inbox = shared.clone();
        App::new().route(
            "/v1/messages",
            web::post().to(move |message: web::Json<Message>| {
                let inbox = inbox.clone();
                async move {
                    let Some(code) = code_in(&message.text) else {
                        return HttpResponse::BadRequest().body("no code in the message");
                    };
                    let n = {
                        let mut codes = inbox.codes.lock().expect("inbox lock");
                        codes.entry(message.to.clone()).or_default().push(code);
                        inbox.received.send_modify(|n| *n += 1);
                        *inbox.received.borrow()
                    };
                    HttpResponse::Ok().json(serde_json::json!({ "id": format!("m-{n}") }))
                }
            }),
        )
    })
    .workers(2)
    .bind(listen)?
    .run();
    actix_web::rt::spawn(server);
    Ok(inbox)
}
