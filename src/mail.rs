//! Email: an organization's mailer (`[organizations.mail]`), used for magic links.
//!
//! `smtp` sends through an SMTP server with `lettre` (TLS `none`, `starttls` or `tls`, optional
//! credentials read through a [`SecretRef`]); `file` writes each message as an `.eml` file (for
//! development and inspection); `console`, the default, prints the text part on standard output,
//! like the console SMS gateway: never in the structured log, which must not hold sign-in links.

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::i18n::Locale;
use crate::plugin::SecretRef;

/// How an SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain text (a relay on the same host or network only).
    None,
    /// Plain connection upgraded with STARTTLS, which is required (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// An organization's mailer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "snake_case", deny_unknown_fields)]
pub enum MailSettings {
    /// Development: messages printed by the server.
    Console {
        #[serde(default = "default_from")]
        from: String,
    },
    /// Development and inspection: one `.eml` file per message in `dir`.
    File {
        dir: PathBuf,
        #[serde(default = "default_from")]
        from: String,
    },
    Smtp {
        host: String,
        /// Defaults to 587 for `starttls`, 465 for `tls`, 25 for `none`.
        port: Option<u16>,
        #[serde(default)]
        tls: TlsMode,
        username: Option<String>,
        password: Option<SecretRef>,
        /// A PEM file of extra root certificates, for a server with a private CA.
        ca_file: Option<PathBuf>,
        from: String,
    },
}

fn default_from() -> String {
    "Sesame <no-reply@localhost>".into()
}

impl Default for MailSettings {
    fn default() -> Self {
        Self::Console {
            from: default_from(),
        }
    }
}

/// One message, with a text and an HTML part. Its body may hold a sign-in link or a code, so
/// printing it (a log line, a panic) shows only the subject.
pub struct Mail<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for Mail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

impl MailSettings {
    fn from(&self) -> &str {
        match self {
            Self::Console { from } | Self::File { from, .. } | Self::Smtp { from, .. } => from,
        }
    }

    /// Checks what can be checked before sending: the from address, the secrets and the CA
    /// file can be read. The message names the field.
    pub fn validate(&self) -> Result<(), String> {
        self.from()
            .parse::<Mailbox>()
            .map_err(|e| format!("from: '{}' is not a mailbox ({e})", self.from()))?;
        if let Self::Smtp {
            host,
            username,
            password,
            ca_file,
            tls,
            ..
        } = self
        {
            if host.trim().is_empty() {
                return Err("host: must not be empty".into());
            }
            if username.is_some() != password.is_some() {
                return Err("username and password: give both or neither".into());
            }
            // Credentials in clear text only to a relay on this machine.
            let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1");
            if username.is_some() && *tls == TlsMode::None && !loopback {
                return Err(
                    "tls: credentials are not sent without TLS (use starttls or tls), except to a relay on localhost".into(),
                );
            }
            if let Some(p) = password {
                p.resolve().map_err(|e| format!("password: {e}"))?;
            }
            if let Some(path) = ca_file {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("ca_file: cannot read {}: {e}", path.display()))?;
                Certificate::from_pem(&pem).map_err(|e| {
                    format!("ca_file: {} is not a PEM certificate: {e}", path.display())
                })?;
            }
        }
        Ok(())
    }

    /// Whether links are printed on the console (the server warns at start).
    pub fn is_console(&self) -> bool {
        matches!(self, Self::Console { .. })
    }

    /// Sends one message. Errors say what failed without the message's content.
    pub async fn send(&self, mail: Mail<'_>) -> Result<(), String> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| format!("'{}' is not a mailbox: {e}", mail.to))?;
        let from: Mailbox = self
            .from()
            .parse()
            .map_err(|e| format!("from is not a mailbox: {e}"))?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html,
            ))
            .map_err(|e| format!("the message cannot be built: {e}"))?;
        match self {
            Self::Console { .. } => {
                println!(
                    "\n=== Email to {} (console mailer, development only) ===\nSubject: {}\n\n{}\n===\n",
                    mail.to, mail.subject, mail.text
                );
                Ok(())
            }
            Self::File { dir, .. } => {
                // Written under a temporary name, then renamed: a reader of the folder never
                // sees half a message.
                let name = uuid::Uuid::new_v4();
                let (tmp, path) = (
                    dir.join(format!(".{name}.tmp")),
                    dir.join(format!("{name}.eml")),
                );
                tokio::fs::write(&tmp, message.formatted())
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
                tokio::fs::rename(&tmp, &path)
                    .await
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))
            }
            Self::Smtp {
                host,
                port,
                tls,
                username,
                password,
                ca_file,
                ..
            } => {
                let tls_parameters = || -> Result<TlsParameters, String> {
                    let mut b = TlsParameters::builder(host.clone());
                    if let Some(path) = ca_file {
                        let pem = std::fs::read(path)
                            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                        let cert = Certificate::from_pem(&pem).map_err(|e| e.to_string())?;
                        b = b.add_root_certificate(cert);
                    }
                    b.build_rustls().map_err(|e| e.to_string())
                };
                let (tls, default_port) = match tls {
                    TlsMode::None => (Tls::None, 25),
                    TlsMode::Starttls => (Tls::Required(tls_parameters()?), 587),
                    TlsMode::Tls => (Tls::Wrapper(tls_parameters()?), 465),
                };
                let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(port.unwrap_or(default_port))
                    .tls(tls)
                    .timeout(Some(Duration::from_secs(10)));
                if let (Some(user), Some(pass)) = (username, password) {
                    let pass = pass.resolve().map_err(|e| format!("password: {e}"))?;
                    builder = builder.credentials(Credentials::new(user.clone(), pass));
                }
                builder
                    .build()
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("SMTP {host}: {e}"))
            }
        }
    }
}

/// The mails Sesame writes, from `templates/` (embedded at build time; the `.html` part is
/// auto-escaped, the `.txt` part is not), in the language of whoever asked for them: the
/// request's (`crate::i18n::current`), taken along when the mail is sent in the background.
#[derive(Debug)]
pub struct Templates {
    env: minijinja::Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = minijinja::Environment::new();
        // `t("id", arg=value)`: a message in the mail's `locale` (`crate::i18n`).
        env.add_function("t", crate::i18n::template_function);
        for (name, text) in [
            (
                "magic_link_email.txt",
                include_str!("../templates/magic_link_email.txt"),
            ),
            (
                "magic_link_email.html",
                include_str!("../templates/magic_link_email.html"),
            ),
            (
                "password_reset_email.txt",
                include_str!("../templates/password_reset_email.txt"),
            ),
            (
                "password_reset_email.html",
                include_str!("../templates/password_reset_email.html"),
            ),
            (
                "registration_email.txt",
                include_str!("../templates/registration_email.txt"),
            ),
            (
                "registration_email.html",
                include_str!("../templates/registration_email.html"),
            ),
            (
                "plain_email.html",
                include_str!("../templates/plain_email.html"),
            ),
        ] {
            env.add_template(name, text)
                .expect("built-in templates parse");
        }
        Self { env }
    }
}

impl Templates {
    /// The text and HTML parts of a sign-in link's mail.
    pub fn sign_in_link(
        &self,
        locale: Locale,
        app_name: &str,
        org_name: &str,
        link: &str,
        minutes: i64,
    ) -> Result<(String, String), minijinja::Error> {
        let ctx = minijinja::context! { locale => locale.tag(), app_name, org_name, link, minutes };
        self.text_and_html("magic_link_email", &ctx)
    }

    /// The text and HTML parts of a password reset link's mail.
    pub fn reset_link(
        &self,
        locale: Locale,
        org_name: &str,
        link: &str,
        minutes: i64,
    ) -> Result<(String, String), minijinja::Error> {
        let ctx = minijinja::context! { locale => locale.tag(), org_name, link, minutes };
        self.text_and_html("password_reset_email", &ctx)
    }

    /// The text and HTML parts of a registration's verification mail.
    pub fn registration_link(
        &self,
        locale: Locale,
        app_name: &str,
        org_name: &str,
        link: &str,
        minutes: i64,
    ) -> Result<(String, String), minijinja::Error> {
        // Not the username: a stranger chose it, and it must not carry their words to the inbox.
        let ctx = minijinja::context! { locale => locale.tag(), app_name, org_name, link, minutes };
        self.text_and_html("registration_email", &ctx)
    }

    /// The `{name}.txt` and `{name}.html` templates rendered with `ctx`.
    fn text_and_html(
        &self,
        name: &str,
        ctx: &minijinja::Value,
    ) -> Result<(String, String), minijinja::Error> {
        let part = |ext: &str| self.env.get_template(&format!("{name}.{ext}"))?.render(ctx);
        Ok((part("txt")?, part("html")?))
    }

    /// The HTML part of a mail whose words a plug-in wrote as text (an email code): the text,
    /// escaped, as it is.
    pub fn plain_html(
        &self,
        locale: Locale,
        subject: &str,
        text: &str,
    ) -> Result<String, minijinja::Error> {
        self.env
            .get_template("plain_email.html")?
            .render(minijinja::context! { locale => locale.tag(), subject, text })
    }
}

impl Templates {
    /// Whether `name` is one of the mails' templates.
    pub fn has(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }

    /// Replaces the template `name` (see `http::overrides`); fails when it does not parse.
    pub fn replace(&mut self, name: &str, source: String) -> Result<(), minijinja::Error> {
        self.env.add_template_owned(name.to_string(), source)
    }

    /// Renders every template with an empty context: the first that fails, and why.
    pub fn check(&self) -> Result<(), (String, minijinja::Error)> {
        // The names first: the environment's iterator holds the lock an `include` takes again.
        let names: Vec<String> = self.env.templates().map(|(n, _)| n.to_string()).collect();
        for name in names {
            let rendered = self
                .env
                .get_template(&name)
                .and_then(|t| t.render(minijinja::context! {}));
            rendered.map_err(|e| (name, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod template_tests {
    use super::Templates;
    use crate::i18n::Locale;

    #[test]
    fn the_sign_in_link_mail_has_both_parts_and_escapes_html() {
        let (text, html) = Templates::default()
            .sign_in_link(
                Locale::En,
                "<App>",
                "Acme",
                "https://id.example/t/acme/magic-link?token=t",
                5,
            )
            .unwrap();
        assert!(
            text.contains("Sign in to <App>") && text.contains("token=t"),
            "{text}"
        );
        assert!(text.contains("expires in 5 minutes"), "{text}");
        assert!(
            html.contains("&lt;App&gt;") && !html.contains("<App>"),
            "{html}"
        );
        assert!(Templates::default().has("magic_link_email.html"));
    }

    #[test]
    fn the_reset_link_mail_has_both_parts_and_escapes_html() {
        let link = "https://id.example/t/acme/password-reset/link?token=t";
        let (text, html) = Templates::default()
            .reset_link(Locale::En, "<Acme>", link, 5)
            .unwrap();
        assert!(text.contains("Reset your <Acme> password"), "{text}");
        assert!(
            text.contains(link) && text.contains("expires in 5 minutes"),
            "{text}"
        );
        assert!(
            html.contains("&lt;Acme&gt;") && !html.contains("<Acme>"),
            "{html}"
        );
    }

    #[test]
    fn a_mail_speaks_the_language_it_is_given() {
        let link = "https://id.example/t/acme/magic-link?token=t";
        let (text, html) = Templates::default()
            .sign_in_link(Locale::De, "Portal", "Acme", link, 1)
            .unwrap();
        assert!(text.contains("Bei Portal anmelden"), "{text}");
        assert!(
            text.contains("1 Minute") && !text.contains("minute"),
            "{text}"
        );
        assert!(html.contains("<html lang=\"de\">"), "{html}");
        let (text, _) = Templates::default()
            .registration_link(Locale::Es, "Portal", "Acme", link, 10)
            .unwrap();
        assert!(text.contains("10 minutos"), "{text}");
    }

    #[test]
    fn a_plain_mail_escapes_the_text_it_wraps() {
        let html = Templates::default()
            .plain_html(
                Locale::En,
                "Code for <App>",
                "Your code:\n\n    123456\n<b>x</b>",
            )
            .unwrap();
        assert!(
            html.contains("    123456\n&lt;b&gt;x&lt;&#x2f;b&gt;"),
            "{html}"
        );
        assert!(
            html.contains("<title>Code for &lt;App&gt;</title>"),
            "{html}"
        );
    }
}
