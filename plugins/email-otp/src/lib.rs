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
        let minutes = if n.minutes == 1 {
            "1 minute".to_string()
        } else {
            format!("{} minutes", n.minutes)
        };
        CodeMessage {
            subject: format!("Your sign-in code for {}", n.application),
            text: format!(
                "Your one-time code to sign in to {app} ({org}) is:\n\n    {code}\n\n\
                 It expires in {minutes}. If you did not try to sign in, someone may know your \
                 password: change it, and do not share this code with anyone.\n",
                app = n.application,
                org = n.organization,
                code = n.code,
            ),
        }
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
        }
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
