//! One-time codes by email: a second factor offered beside SMS OTP as its fallback, for a user
//! whose text message does not arrive.
//!
//! The server generates the code, keeps only its keyed hash, counts the attempts and limits the
//! resends with the organization's `[organizations.email_otp]` settings, and mails it through the
//! organization's mailer to the user's verified address; this plug-in says where it goes and
//! words the message. `amr` is `otp` and `email` (RFC 8176 registers no value for email; `email`
//! is what the magic link uses too).

use sesame_plugin_api::factor::{CodeMessage, CodeNotice, Destination, SentCodeFactor};

/// The email one-time code factor.
#[derive(Debug)]
pub struct EmailOtp;

/// The factor, for the server's registry.
pub static EMAIL_OTP: EmailOtp = EmailOtp;

impl SentCodeFactor for EmailOtp {
    fn name(&self) -> &'static str {
        "email_otp"
    }

    fn label(&self) -> &'static str {
        "email code"
    }

    fn offer(&self) -> &'static str {
        "Email me a code instead"
    }

    fn amr(&self) -> &'static [&'static str] {
        &["otp", "email"]
    }

    fn fallback_of(&self) -> Option<&'static str> {
        Some("sms_otp")
    }

    fn destination(&self) -> Destination {
        Destination::Email
    }

    /// The code stands on a line of its own (easy to copy) and the subject names the
    /// application, not the code, so a lock screen's preview does not show it.
    fn message(&self, n: &CodeNotice<'_>) -> CodeMessage {
        let (app, org, code) = (n.application, n.organization, n.code);
        match n.language {
            "de" => CodeMessage {
                subject: format!("Ihr Anmeldecode für {app}"),
                text: format!(
                    "Ihr Einmalcode zur Anmeldung bei {app} ({org}) lautet:\n\n    {code}\n\n\
                     Er läuft in {} ab. Falls Sie sich nicht anmelden wollten, kennt womöglich \
                     jemand Ihr Passwort: Ändern Sie es, und geben Sie diesen Code niemandem \
                     weiter.\n",
                    plural(n.minutes, "1 Minute", "Minuten"),
                ),
            },
            "es" => CodeMessage {
                subject: format!("Su código de inicio de sesión para {app}"),
                text: format!(
                    "Su código de un solo uso para iniciar sesión en {app} ({org}) es:\n\n    \
                     {code}\n\nCaduca dentro de {}. Si no intentó iniciar sesión, es posible \
                     que alguien conozca su contraseña: cámbiela y no comparta este código con \
                     nadie.\n",
                    plural(n.minutes, "1 minuto", "minutos"),
                ),
            },
            _ => CodeMessage {
                subject: format!("Your sign-in code for {app}"),
                text: format!(
                    "Your one-time code to sign in to {app} ({org}) is:\n\n    {code}\n\n\
                     It expires in {}. If you did not try to sign in, someone may know your \
                     password: change it, and do not share this code with anyone.\n",
                    plural(n.minutes, "1 minute", "minutes"),
                ),
            },
        }
    }
}

/// `one` for 1, else the count and `many`.
fn plural(n: i64, one: &str, many: &str) -> String {
    if n == 1 {
        one.to_string()
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(minutes: i64) -> CodeNotice<'static> {
        CodeNotice {
            organization: "Acme",
            application: "Acme Portal",
            code: "482913",
            minutes,
            language: "en",
        }
    }

    #[test]
    fn the_message_speaks_the_users_language_or_english() {
        let german = EMAIL_OTP.message(&CodeNotice {
            language: "de",
            ..notice(1)
        });
        assert_eq!(german.subject, "Ihr Anmeldecode für Acme Portal");
        assert!(german.text.contains("\n    482913\n"), "{}", german.text);
        assert!(
            german.text.contains("Er läuft in 1 Minute ab."),
            "{}",
            german.text
        );
        let spanish = EMAIL_OTP.message(&CodeNotice {
            language: "es",
            ..notice(10)
        });
        assert!(
            spanish.text.contains("Caduca dentro de 10 minutos."),
            "{}",
            spanish.text
        );
        let other = EMAIL_OTP.message(&CodeNotice {
            language: "fr",
            ..notice(10)
        });
        assert_eq!(other.subject, "Your sign-in code for Acme Portal");
    }

    #[test]
    fn the_message_carries_the_code_in_its_text_and_not_in_its_subject() {
        let m = EMAIL_OTP.message(&notice(10));
        assert!(m.text.contains("\n    482913\n"), "{}", m.text);
        assert!(m.text.contains("expires in 10 minutes"));
        assert!(m.text.contains("Acme Portal (Acme)"));
        assert_eq!(m.subject, "Your sign-in code for Acme Portal");
        assert!(!m.subject.contains("482913"));
        assert!(EMAIL_OTP.message(&notice(1)).text.contains("in 1 minute."));
        // Printing a message (a log line, a panic) never shows the code.
        assert!(!format!("{m:?}").contains("482913"));
        assert!(!format!("{:?}", notice(10)).contains("482913"));
    }

    #[test]
    fn it_is_a_fallback_of_sms_otp_by_email() {
        assert_eq!(EMAIL_OTP.name(), "email_otp");
        assert_eq!(EMAIL_OTP.fallback_of(), Some("sms_otp"));
        assert_eq!(EMAIL_OTP.destination(), Destination::Email);
        assert_eq!(EMAIL_OTP.amr(), &["otp", "email"]);
    }
}
