//! An SMTP server for the tests, in process, so they need no other program: enough ESMTP for
//! lettre's client, AUTH required, and the three ways a mailer may use TLS. Each message it
//! accepts is parsed by `mail-parser`, not by lettre (which sends them), so the tests see what an
//! independent receiver sees.

use std::io;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use mail_parser::{Addr, Address, Message, MessageParser, MimeHeaders, PartType};
use serde_json::{Value, json};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

/// Longest line read; a longer one ends the connection instead of growing a buffer without end.
const MAX_LINE: u64 = 64 * 1024;
/// Largest message accepted (advertised as SIZE).
const MAX_MESSAGE: usize = 10 * 1024 * 1024;

/// How the server uses TLS.
#[derive(Debug, Clone)]
pub enum Security {
    /// Plain text throughout; AUTH is allowed without TLS (the server is on loopback only).
    None,
    /// Plain until the client's STARTTLS, which AUTH and MAIL require.
    Starttls(Arc<rustls::ServerConfig>),
    /// TLS from the first byte.
    Tls(Arc<rustls::ServerConfig>),
}

/// A TLS configuration from a PEM certificate chain and private key (ring, like the server).
pub fn tls_config(cert_pem: &[u8], key_pem: &[u8]) -> Arc<rustls::ServerConfig> {
    let certs = rustls_pemfile::certs(&mut &*cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .expect("a PEM certificate");
    let key = rustls_pemfile::private_key(&mut &*key_pem)
        .expect("a PEM private key")
        .expect("a PEM private key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("the certificate and key fit");
    Arc::new(config)
}

/// A running server on 127.0.0.1; it stops when dropped.
#[derive(Debug)]
pub struct SmtpServer {
    port: u16,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    user: String,
    password: String,
    security: Security,
    /// One record per accepted message, in arrival order.
    messages: Mutex<Vec<Value>>,
}

impl SmtpServer {
    /// Listens on a free loopback port before returning, so clients may connect at once. It
    /// serves from a thread and runtime of its own, so it neither depends on nor blocks the
    /// test's runtime.
    pub fn start(user: &str, password: &str, security: Security) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            user: user.to_string(),
            password: password.to_string(),
            security,
            messages: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("smtp-{port}"))
            .spawn({
                let shared = shared.clone();
                move || serve(listener, shared, stopped)
            })
            .unwrap();
        Self {
            port,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The records of the messages accepted so far, in arrival order: envelope (`mail_from`,
    /// `rcpt_tos`, `authenticated_as`), headers (`from`, `to`, `subject`) and the decoded
    /// `text` and `html` bodies (null when absent).
    pub fn messages(&self) -> Vec<Value> {
        self.shared.messages.lock().unwrap().clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // The accept loop ends; dropping its runtime ends the open connections too.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: std::net::TcpListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let shared = shared.clone();
                        tokio::spawn(async move {
                            // Refused handshakes and clients that hang up are expected in some
                            // tests: the connection just ends.
                            if let Err(error) = connection(stream, &shared).await {
                                log(&error);
                            }
                        });
                    }
                    Err(error) => log(&error),
                },
            }
        }
    });
}

/// With `SESAME_TEST_LOG` set, why a connection ended early.
fn log(error: &io::Error) {
    if std::env::var_os("SESAME_TEST_LOG").is_some() {
        eprintln!("test SMTP server: {error}");
    }
}

async fn connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    match &shared.security {
        Security::Tls(config) => {
            let stream = TlsAcceptor::from(config.clone()).accept(stream).await?;
            converse(stream, shared, true, true).await?;
        }
        Security::None | Security::Starttls(_) => {
            if let End::Starttls(stream) = converse(stream, shared, true, false).await? {
                let Security::Starttls(config) = &shared.security else {
                    unreachable!("STARTTLS is accepted only in that mode")
                };
                let stream = TlsAcceptor::from(config.clone()).accept(stream).await?;
                // No greeting: the client speaks first, with EHLO (RFC 3207).
                converse(stream, shared, false, true).await?;
            }
        }
    }
    Ok(())
}

/// How a session ended: QUIT or hang-up, or STARTTLS (the stream comes back for the handshake).
enum End<S> {
    Closed,
    Starttls(S),
}

/// What one session knows. A new one starts after STARTTLS: nothing from before TLS is kept.
#[derive(Debug, Default)]
struct Session {
    tls: bool,
    /// EHLO was said: extensions such as AUTH may be used.
    ehlo: bool,
    /// EHLO or HELO was said: mail may be sent.
    helo: bool,
    user: Option<String>,
    mail_from: Option<String>,
    rcpt_tos: Vec<String>,
}

/// One SMTP session over `stream`, with the greeting first when `greet`.
async fn converse<S>(stream: S, shared: &Shared, greet: bool, tls: bool) -> io::Result<End<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = BufReader::new(stream);
    let mut session = Session {
        tls,
        ..Session::default()
    };
    if greet {
        reply(&mut conn, "220 127.0.0.1 ESMTP Sesame's test server").await?;
    }
    loop {
        let Some(line) = read_line(&mut conn).await? else {
            return Ok(End::Closed);
        };
        let Ok(line) = String::from_utf8(line) else {
            reply(&mut conn, "500 5.5.2 Commands are ASCII").await?;
            continue;
        };
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let arg = arg.trim();
        let answer = match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" if arg.is_empty() => "501 5.5.4 Say who you are".to_string(),
            "EHLO" => {
                session.greeted(true);
                session.ehlo_reply(shared, arg)
            }
            "HELO" => {
                session.greeted(false);
                format!("250 127.0.0.1 Hello {arg}")
            }
            "STARTTLS" => match session.starttls(shared, arg) {
                Some(refusal) => refusal.to_string(),
                None => {
                    reply(&mut conn, "220 2.0.0 Ready to start TLS").await?;
                    // Anything the client sent after STARTTLS is dropped with the buffer, as
                    // RFC 3207 asks.
                    return Ok(End::Starttls(conn.into_inner()));
                }
            },
            "AUTH" => auth(&mut conn, &mut session, shared, arg).await?,
            "MAIL" => session.mail(shared, arg),
            "RCPT" => session.rcpt(shared, arg),
            "DATA" => data(&mut conn, &mut session, shared, arg).await?,
            "RSET" | "NOOP" | "QUIT" if !arg.is_empty() => {
                "501 5.5.4 No parameters allowed".to_string()
            }
            "RSET" => {
                session.reset();
                "250 2.0.0 OK".to_string()
            }
            "NOOP" => "250 2.0.0 OK".to_string(),
            "QUIT" => {
                reply(&mut conn, "221 2.0.0 Bye").await?;
                return Ok(End::Closed);
            }
            _ => "500 5.5.2 Command unrecognized".to_string(),
        };
        reply(&mut conn, &answer).await?;
    }
}

impl Session {
    /// EHLO or HELO: a new start, without a mail transaction.
    fn greeted(&mut self, ehlo: bool) {
        self.reset();
        self.ehlo = ehlo;
        self.helo = true;
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_tos.clear();
    }

    /// In STARTTLS mode, nothing but the greeting, STARTTLS and the harmless commands before TLS.
    fn needs_tls(&self, shared: &Shared) -> bool {
        matches!(shared.security, Security::Starttls(_)) && !self.tls
    }

    /// The multi-line EHLO reply; AUTH is offered only where it is allowed.
    fn ehlo_reply(&self, shared: &Shared, client: &str) -> String {
        let mut lines = vec![
            format!("127.0.0.1 Hello {client}"),
            format!("SIZE {MAX_MESSAGE}"),
            "ENHANCEDSTATUSCODES".to_string(),
        ];
        if self.needs_tls(shared) {
            lines.push("STARTTLS".to_string());
        } else {
            lines.push("AUTH PLAIN LOGIN".to_string());
        }
        let last = lines.len() - 1;
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| format!("250{}{line}", if i == last { ' ' } else { '-' }))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    /// `None` when STARTTLS may go ahead, else the refusal.
    fn starttls(&self, shared: &Shared, arg: &str) -> Option<&'static str> {
        if !arg.is_empty() {
            Some("501 5.5.4 No parameters allowed")
        } else if !self.needs_tls(shared) {
            Some("502 5.5.1 STARTTLS not offered")
        } else if !self.ehlo {
            Some("503 5.5.1 Send EHLO first")
        } else {
            None
        }
    }

    /// Why a mail transaction command cannot run now, if it cannot.
    fn refuse_transaction(&self, shared: &Shared) -> Option<String> {
        if !self.helo {
            Some("503 5.5.1 Send EHLO first".to_string())
        } else if self.needs_tls(shared) {
            Some("530 5.7.0 Must issue a STARTTLS command first".to_string())
        } else if self.user.is_none() {
            Some("530 5.7.0 Authentication required".to_string())
        } else {
            None
        }
    }

    fn mail(&mut self, shared: &Shared, arg: &str) -> String {
        if let Some(refusal) = self.refuse_transaction(shared) {
            return refusal;
        }
        if self.mail_from.is_some() {
            return "503 5.5.1 Nested MAIL command".to_string();
        }
        match path(arg, "FROM:") {
            Some(address) => {
                self.mail_from = Some(address);
                "250 2.1.0 OK".to_string()
            }
            None => "501 5.5.4 Syntax: MAIL FROM:<address>".to_string(),
        }
    }

    fn rcpt(&mut self, shared: &Shared, arg: &str) -> String {
        if let Some(refusal) = self.refuse_transaction(shared) {
            return refusal;
        }
        if self.mail_from.is_none() {
            return "503 5.5.1 Need MAIL first".to_string();
        }
        match path(arg, "TO:") {
            Some(address) if !address.is_empty() => {
                self.rcpt_tos.push(address);
                "250 2.1.5 OK".to_string()
            }
            _ => "501 5.5.4 Syntax: RCPT TO:<address>".to_string(),
        }
    }
}

/// The address in `FROM:<address> [parameters]` (or `TO:`), without its angle brackets.
fn path(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start().strip_prefix('<')?;
    let (address, _parameters) = rest.split_once('>')?;
    Some(address.to_string())
}

/// AUTH PLAIN (RFC 4616) or LOGIN, with or without an initial response.
async fn auth<S>(
    conn: &mut BufReader<S>,
    session: &mut Session,
    shared: &Shared,
    arg: &str,
) -> io::Result<String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if !session.ehlo {
        return Ok("503 5.5.1 Send EHLO first".to_string());
    }
    if session.needs_tls(shared) {
        return Ok("530 5.7.0 Must issue a STARTTLS command first".to_string());
    }
    if session.user.is_some() {
        return Ok("503 5.5.1 Already authenticated".to_string());
    }
    if session.mail_from.is_some() {
        return Ok("503 5.5.1 Not during a mail transaction".to_string());
    }
    let (mechanism, initial) = match arg.split_once(' ') {
        Some((mechanism, initial)) => (mechanism, Some(initial.trim())),
        None => (arg, None),
    };
    let (user, password) = match mechanism.to_ascii_uppercase().as_str() {
        "PLAIN" => {
            let response = match challenge(conn, initial, "334 ").await? {
                Ok(response) => response,
                Err(refusal) => return Ok(refusal.to_string()),
            };
            // authorization identity NUL authentication identity NUL password
            let fields: Vec<&[u8]> = response.split(|b| *b == 0).collect();
            let [authzid, user, password] = fields[..] else {
                return Ok("501 5.5.2 Malformed PLAIN response".to_string());
            };
            if !authzid.is_empty() && authzid != user {
                return Ok("535 5.7.8 Authentication credentials invalid".to_string());
            }
            (user.to_vec(), password.to_vec())
        }
        "LOGIN" => {
            // The challenges are "Username:" and "Password:" in base64.
            let user = match challenge(conn, initial, "334 VXNlcm5hbWU6").await? {
                Ok(user) => user,
                Err(refusal) => return Ok(refusal.to_string()),
            };
            let password = match challenge(conn, None, "334 UGFzc3dvcmQ6").await? {
                Ok(password) => password,
                Err(refusal) => return Ok(refusal.to_string()),
            };
            (user, password)
        }
        "" => return Ok("501 5.5.4 Name a mechanism".to_string()),
        _ => return Ok("504 5.5.4 Unrecognized authentication type".to_string()),
    };
    if user == shared.user.as_bytes() && password == shared.password.as_bytes() {
        session.user = Some(shared.user.clone());
        Ok("235 2.7.0 Authentication successful".to_string())
    } else {
        Ok("535 5.7.8 Authentication credentials invalid".to_string())
    }
}

/// The client's decoded answer: `initial` if it gave one with AUTH, else its answer to `prompt`.
/// `Err` is the reply for a cancelled exchange or a response that is not base64.
async fn challenge<S>(
    conn: &mut BufReader<S>,
    initial: Option<&str>,
    prompt: &str,
) -> io::Result<Result<Vec<u8>, &'static str>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let answer = match initial {
        Some(initial) => initial.to_string(),
        None => {
            reply(conn, prompt).await?;
            let line = read_line(conn).await?.ok_or(io::ErrorKind::UnexpectedEof)?;
            String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_string()
        }
    };
    Ok(match answer.as_str() {
        "*" => Err("501 5.7.0 Authentication cancelled"),
        // An empty initial response (RFC 4954).
        "=" => Ok(Vec::new()),
        encoded => BASE64
            .decode(encoded)
            .map_err(|_| "501 5.5.2 Cannot decode response"),
    })
}

/// DATA: the message up to the line with a single dot, leading dots unstuffed (RFC 5321
/// 4.5.2); an accepted message is recorded before the 250 reply, so a client that got it can
/// count on `messages()`.
async fn data<S>(
    conn: &mut BufReader<S>,
    session: &mut Session,
    shared: &Shared,
    arg: &str,
) -> io::Result<String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if !arg.is_empty() {
        return Ok("501 5.5.4 No parameters allowed".to_string());
    }
    if let Some(refusal) = session.refuse_transaction(shared) {
        return Ok(refusal);
    }
    if session.rcpt_tos.is_empty() {
        return Ok("503 5.5.1 Need RCPT first".to_string());
    }
    reply(conn, "354 End data with <CR><LF>.<CR><LF>").await?;
    let mut message = Vec::new();
    let mut too_big = false;
    loop {
        let line = read_line(conn).await?.ok_or(io::ErrorKind::UnexpectedEof)?;
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if message.len() + line.len() > MAX_MESSAGE {
            too_big = true;
        } else {
            message.extend_from_slice(line);
        }
    }
    let answer = if too_big {
        "552 5.3.4 Message too big"
    } else if let Some(record) = record(session, &message) {
        shared.messages.lock().unwrap().push(record);
        "250 2.0.0 Message accepted for delivery"
    } else {
        "554 5.6.0 Message could not be parsed"
    };
    session.reset();
    Ok(answer.to_string())
}

fn record(session: &Session, raw: &[u8]) -> Option<Value> {
    let message = MessageParser::default().parse(raw)?;
    Some(json!({
        "mail_from": session.mail_from,
        "rcpt_tos": session.rcpt_tos,
        "authenticated_as": session.user,
        "from": message.from().map(addresses),
        "to": message.to().map(addresses),
        "subject": message.subject(),
        "text": body(&message, "plain"),
        "html": body(&message, "html"),
    }))
}

/// The decoded content of the first text/`subtype` part that is not an attachment.
fn body(message: &Message, subtype: &str) -> Option<String> {
    message
        .parts
        .iter()
        .find(|part| {
            let inline = part
                .content_disposition()
                .is_none_or(|disposition| !disposition.is_attachment());
            let typed = match part.content_type() {
                Some(ct) => {
                    ct.c_type.eq_ignore_ascii_case("text")
                        && ct
                            .c_subtype
                            .as_deref()
                            .is_some_and(|s| s.eq_ignore_ascii_case(subtype))
                }
                // No Content-Type means text/plain (RFC 2045 5.2).
                None => subtype == "plain" && matches!(part.body, PartType::Text(_)),
            };
            inline && typed
        })
        .and_then(|part| part.text_contents())
        .map(str::to_string)
}

/// An address header as a reader would write it: `Name <address>`, comma-separated.
fn addresses(address: &Address) -> String {
    match address {
        Address::List(list) => mailboxes(list),
        Address::Group(groups) => groups
            .iter()
            .map(|group| match &group.name {
                Some(name) => format!("{}: {};", phrase(name), mailboxes(&group.addresses)),
                None => mailboxes(&group.addresses),
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn mailboxes(list: &[Addr]) -> String {
    list.iter()
        .map(|addr| match (&addr.name, &addr.address) {
            (Some(name), Some(address)) => format!("{} <{address}>", phrase(name)),
            (None, Some(address)) => address.to_string(),
            (Some(name), None) => phrase(name),
            (None, None) => String::new(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A display name, quoted only when it holds characters that are special in addresses.
fn phrase(name: &str) -> String {
    if name.contains(|c| "()<>@,:;.\\\"[]".contains(c)) {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        name.to_string()
    }
}

/// One line with its ending; `None` when the client has gone.
async fn read_line<R: AsyncBufRead + Unpin>(conn: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    (&mut *conn)
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await?;
    if line.ends_with(b"\n") {
        Ok(Some(line))
    } else if line.len() as u64 >= MAX_LINE {
        Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"))
    } else {
        // The end of the stream, possibly in the middle of a line.
        Ok(None)
    }
}

async fn reply<S>(conn: &mut BufReader<S>, text: &str) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let stream = conn.get_mut();
    stream.write_all(format!("{text}\r\n").as_bytes()).await?;
    stream.flush().await
}

/// The server's own rules, through a client that types the commands (lettre, in
/// `magic_link.rs`, uses only the paths it needs).
mod protocol {
    use super::*;

    const USER: &str = "user";
    const PASSWORD: &str = "secret";

    /// A line-by-line SMTP client.
    struct Client<S> {
        conn: BufReader<S>,
    }

    impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
        fn new(stream: S) -> Self {
            Self {
                conn: BufReader::new(stream),
            }
        }

        /// One reply, its lines joined with `\n`.
        async fn read(&mut self) -> String {
            let mut lines = Vec::new();
            loop {
                let line = read_line(&mut self.conn).await.unwrap().expect("a reply");
                let line = String::from_utf8(line).unwrap();
                let line = line.trim_end().to_string();
                let more = line.as_bytes().get(3) == Some(&b'-');
                lines.push(line);
                if !more {
                    return lines.join("\n");
                }
            }
        }

        async fn send(&mut self, line: &str) -> String {
            reply(&mut self.conn, line).await.unwrap();
            self.read().await
        }
    }

    fn b64(s: &str) -> String {
        BASE64.encode(s)
    }

    async fn connect(server: &SmtpServer) -> TcpStream {
        TcpStream::connect(("127.0.0.1", server.port()))
            .await
            .unwrap()
    }

    fn assert_code(reply: &str, code: &str) {
        assert!(reply.starts_with(code), "expected {code}: {reply}");
    }

    #[tokio::test]
    async fn plain_session_with_auth_login_rset_and_dot_unstuffing() {
        let server = SmtpServer::start(USER, PASSWORD, Security::None);
        let mut c = Client::new(connect(&server).await);
        assert_code(&c.read().await, "220 ");
        assert_code(&c.send("MAIL FROM:<a@acme.example>").await, "503 ");
        assert_code(&c.send("EHLO").await, "501 ");
        let ehlo = c.send("EHLO client.example").await;
        let lines: Vec<&str> = ehlo.lines().collect();
        assert!(lines.len() > 1, "{ehlo}");
        assert!(
            lines[..lines.len() - 1]
                .iter()
                .all(|l| l.starts_with("250-")),
            "{ehlo}"
        );
        assert!(lines[lines.len() - 1].starts_with("250 "), "{ehlo}");
        assert!(
            lines.contains(&"250-AUTH PLAIN LOGIN") || lines.contains(&"250 AUTH PLAIN LOGIN"),
            "{ehlo}"
        );
        assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
        assert_code(&c.send("STARTTLS").await, "502 ");
        assert_code(&c.send("MAIL FROM:<a@acme.example>").await, "530 ");
        assert_code(&c.send("AUTH CRAM-MD5").await, "504 ");

        // LOGIN with the prompts, a wrong password, then with the user name given at once.
        assert_eq!(c.send("AUTH LOGIN").await, "334 VXNlcm5hbWU6");
        assert_eq!(c.send(&b64(USER)).await, "334 UGFzc3dvcmQ6");
        assert_code(&c.send(&b64("wrong")).await, "535 ");
        assert_eq!(
            c.send(&format!("AUTH LOGIN {}", b64(USER))).await,
            "334 UGFzc3dvcmQ6"
        );
        assert_code(&c.send(&b64(PASSWORD)).await, "235 ");
        assert_code(&c.send("AUTH PLAIN").await, "503 ");

        assert_code(&c.send("FROB").await, "500 ");
        assert_code(&c.send("RCPT TO:<dana@acme.example>").await, "503 ");
        assert_code(&c.send("DATA").await, "503 ");
        assert_code(&c.send("MAIL FROM:a@acme.example").await, "501 ");
        assert_code(
            &c.send("MAIL FROM:<a@acme.example> BODY=8BITMIME").await,
            "250 ",
        );
        assert_code(&c.send("MAIL FROM:<a@acme.example>").await, "503 ");
        assert_code(&c.send("RCPT TO:<dana@acme.example>").await, "250 ");
        assert_code(&c.send("RSET").await, "250 ");
        assert_code(&c.send("DATA").await, "503 ");
        assert_code(&c.send("NOOP").await, "250 ");

        assert_code(&c.send("MAIL FROM:<a@acme.example>").await, "250 ");
        assert_code(&c.send("rcpt to:<dana@acme.example>").await, "250 ");
        assert_code(&c.send("RCPT TO:<eve@acme.example>").await, "250 ");
        assert_code(&c.send("DATA").await, "354 ");
        let message = "From: \"Acme, Inc.\" <a@acme.example>\r\nTo: dana@acme.example\r\n\
            Subject: =?utf-8?q?Caf=C3=A9?=\r\n\r\nfirst\r\n..leading dot\r\n...\r\n";
        assert_code(&c.send(&format!("{message}.")).await, "250 ");
        assert_code(&c.send("QUIT").await, "221 ");

        let messages = server.messages();
        assert_eq!(messages.len(), 1);
        assert_eq!(
            messages[0],
            json!({
                "mail_from": "a@acme.example",
                "rcpt_tos": ["dana@acme.example", "eve@acme.example"],
                "authenticated_as": USER,
                "from": "\"Acme, Inc.\" <a@acme.example>",
                "to": "dana@acme.example",
                "subject": "Café",
                "text": "first\r\n.leading dot\r\n..\r\n",
                "html": null,
            })
        );
    }

    #[tokio::test]
    async fn auth_plain_and_a_multipart_message() {
        let server = SmtpServer::start(USER, PASSWORD, Security::None);
        let mut c = Client::new(connect(&server).await);
        c.read().await;
        c.send("HELO client.example").await;
        assert_code(&c.send("AUTH PLAIN").await, "503 ");
        c.send("EHLO client.example").await;
        let plain = |user: &str, password: &str| BASE64.encode(format!("\0{user}\0{password}"));
        assert_code(
            &c.send(&format!("AUTH PLAIN {}", plain(USER, "x"))).await,
            "535 ",
        );
        assert_code(&c.send("AUTH PLAIN !!!").await, "501 ");
        assert_eq!(c.send("AUTH PLAIN").await, "334");
        assert_code(&c.send("*").await, "501 ");
        assert_eq!(c.send("AUTH PLAIN").await, "334");
        assert_code(&c.send(&plain(USER, PASSWORD)).await, "235 ");
        c.send("MAIL FROM:<>").await;
        c.send("RCPT TO:<dana@acme.example>").await;
        assert_code(&c.send("DATA").await, "354 ");
        let message = "From: a@acme.example\r\nSubject: Two parts\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/alternative; boundary=\"b\"\r\n\r\n\
            --b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
            caf=C3=A9 https://x.example/?a=3Db\r\n\
            --b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
            PHA+aGk8L3A+\r\n--b--\r\n";
        assert_code(&c.send(&format!("{message}.")).await, "250 ");
        let m = &server.messages()[0];
        assert_eq!(m["mail_from"], "");
        assert_eq!(m["to"], Value::Null);
        assert_eq!(m["subject"], "Two parts");
        assert!(
            m["text"]
                .as_str()
                .unwrap()
                .starts_with("café https://x.example/?a=b"),
            "{m}"
        );
        assert_eq!(m["html"], "<p>hi</p>");
    }

    /// A certificate for `localhost` and a client configuration that trusts it, or not.
    fn certificate() -> (
        Arc<rustls::ServerConfig>,
        tokio_rustls::TlsConnector,
        tokio_rustls::TlsConnector,
    ) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let server = tls_config(
            cert.cert.pem().as_bytes(),
            cert.signing_key.serialize_pem().as_bytes(),
        );
        let client = |roots: rustls::RootCertStore| {
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
            tokio_rustls::TlsConnector::from(Arc::new(config))
        };
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.cert.der().clone()).unwrap();
        (
            server,
            client(roots),
            client(rustls::RootCertStore::empty()),
        )
    }

    fn localhost() -> rustls::pki_types::ServerName<'static> {
        rustls::pki_types::ServerName::try_from("localhost").unwrap()
    }

    #[tokio::test]
    async fn starttls_comes_before_auth_and_mail_and_resets_the_session() {
        let (config, trusting, untrusting) = certificate();
        let server = SmtpServer::start(USER, PASSWORD, Security::Starttls(config));
        let auth = format!(
            "AUTH PLAIN {}",
            BASE64.encode(format!("\0{USER}\0{PASSWORD}"))
        );

        // A client that does not trust the certificate: the connection ends, the server lives.
        let mut c = Client::new(connect(&server).await);
        c.read().await;
        c.send("EHLO client.example").await;
        assert_code(&c.send("STARTTLS").await, "220 ");
        assert!(
            untrusting
                .connect(localhost(), c.conn.into_inner())
                .await
                .is_err()
        );

        let mut c = Client::new(connect(&server).await);
        assert_code(&c.read().await, "220 ");
        assert_code(&c.send("STARTTLS").await, "503 ");
        let ehlo = c.send("EHLO client.example").await;
        assert!(ehlo.contains("STARTTLS"), "{ehlo}");
        assert!(!ehlo.contains("AUTH"), "{ehlo}");
        assert_code(&c.send(&auth).await, "530 ");
        assert_code(&c.send("MAIL FROM:<a@acme.example>").await, "530 ");
        assert_code(&c.send("NOOP").await, "250 ");
        assert_code(&c.send("STARTTLS").await, "220 ");
        let tls = trusting
            .connect(localhost(), c.conn.into_inner())
            .await
            .unwrap();

        // No greeting after the handshake, and EHLO again before anything else.
        let mut c = Client::new(tls);
        assert_code(&c.send(&auth).await, "503 ");
        let ehlo = c.send("EHLO client.example").await;
        assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
        assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
        assert_code(&c.send("STARTTLS").await, "502 ");
        assert_code(&c.send(&auth).await, "235 ");
        assert_code(&c.send("MAIL FROM:<a@acme.example>").await, "250 ");
        assert_code(&c.send("QUIT").await, "221 ");
    }

    #[tokio::test]
    async fn implicit_tls_from_the_first_byte() {
        let (config, trusting, untrusting) = certificate();
        let server = SmtpServer::start(USER, PASSWORD, Security::Tls(config));
        let refused = untrusting
            .connect(localhost(), connect(&server).await)
            .await;
        assert!(refused.is_err());
        let tls = trusting
            .connect(localhost(), connect(&server).await)
            .await
            .unwrap();
        let mut c = Client::new(tls);
        assert_code(&c.read().await, "220 ");
        let ehlo = c.send("EHLO client.example").await;
        assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
        assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
        assert_code(&c.send("QUIT").await, "221 ");
    }
}
