//! The app's pages: plain HTML, no script, no external assets, readable on a phone.

use std::time::{SystemTime, UNIX_EPOCH};

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;line-height:1.5;margin:0 auto;max-width:48rem;\
padding:1rem;color:#1a1a1a;background:#fff}\
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:1.5rem}\
pre{background:#f4f4f4;border-radius:4px;padding:.75rem;white-space:pre-wrap;\
overflow-wrap:anywhere;font-size:.875rem}\
.button,button{display:inline-block;font:inherit;padding:.6rem 1rem;border-radius:4px;\
border:1px solid #1d4ed8;background:#1d4ed8;color:#fff;text-decoration:none;cursor:pointer}\
.notice{background:#ecfdf5;border-left:4px solid #059669;padding:.5rem .75rem}\
.error{background:#fef2f2;border-left:4px solid #dc2626;padding:.5rem .75rem}\
.actions{display:flex;flex-wrap:wrap;gap:1rem;align-items:center;margin-top:1.5rem}\
code{overflow-wrap:anywhere}";

/// Text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `body` is HTML; `title` is text.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} · Sesame sample web app</title>\n<style>{STYLE}</style>\n</head>\n\
         <body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    )
}

pub fn signed_out(just_signed_out: bool) -> String {
    let notice = if just_signed_out {
        "<p id=\"signed-out\" class=\"notice\">You are signed out.</p>\n"
    } else {
        ""
    };
    page(
        "Welcome",
        &format!(
            "<h1>Sesame sample web app</h1>\n{notice}\
             <p>This app signs you in with Sesame (OpenID Connect, authorization code flow with \
             PKCE) and shows what it learns about you.</p>\n\
             <p><a id=\"sign-in\" class=\"button\" href=\"/login\">Sign in with Sesame</a></p>\n"
        ),
    )
}

/// What the signed-in page shows.
#[derive(Debug)]
pub struct SignedInView<'a> {
    pub subject: &'a str,
    /// The ID token's claims, pretty JSON.
    pub claims: &'a str,
    /// UserInfo's answer as pretty JSON, or why there is none.
    pub userinfo: Result<&'a str, &'a str>,
    pub access_expires_at: Option<SystemTime>,
    pub refreshed_at: Option<SystemTime>,
    pub can_refresh: bool,
}

pub fn signed_in(view: &SignedInView<'_>) -> String {
    let mut body = format!(
        "<h1>Signed in</h1>\n<p>Subject: <span id=\"sub\">{}</span></p>\n",
        escape(view.subject)
    );
    if let Some(at) = view.refreshed_at {
        body.push_str(&format!(
            "<p id=\"refreshed\" class=\"notice\">Tokens refreshed at {}.</p>\n",
            utc(at)
        ));
    }
    body.push_str(&match view.access_expires_at {
        Some(at) => format!(
            "<p id=\"access-expiry\">The access token expires at {} ({}).</p>\n",
            utc(at),
            from_now(at, SystemTime::now())
        ),
        None => "<p id=\"access-expiry\">Sesame did not say when the access token expires.</p>\n"
            .to_string(),
    });
    body.push_str(&format!(
        "<h2>ID token claims</h2>\n<pre id=\"claims\">{}</pre>\n",
        escape(view.claims)
    ));
    body.push_str(&match view.userinfo {
        Ok(json) => format!(
            "<h2>UserInfo</h2>\n<pre id=\"userinfo\">{}</pre>\n",
            escape(json)
        ),
        Err(why) => format!(
            "<h2>UserInfo</h2>\n<p id=\"userinfo\" class=\"error\">UserInfo failed: {}</p>\n",
            escape(why)
        ),
    });
    body.push_str("<div class=\"actions\">\n");
    if view.can_refresh {
        body.push_str(
            "<form method=\"post\" action=\"/refresh\"><button id=\"refresh\">Refresh tokens</button></form>\n",
        );
    }
    body.push_str("<a id=\"sign-out\" href=\"/logout\">Sign out</a>\n</div>\n");
    page("Signed in", &body)
}

/// A failed sign-in or refresh: the error code (`code`, e.g. Sesame's `login_required`) and
/// what happened.
pub fn problem(code: &str, message: &str) -> String {
    page(
        "Not signed in",
        &format!(
            "<h1>That did not work</h1>\n\
             <p id=\"error\" class=\"error\"><code>{}</code>: {}</p>\n\
             <div class=\"actions\"><a class=\"button\" href=\"/login\">Sign in again</a>\
             <a href=\"/\">Home</a></div>\n",
            escape(code),
            escape(message)
        ),
    )
}

/// `YYYY-MM-DD hh:mm:ss UTC`.
pub fn utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn from_now(at: SystemTime, now: SystemTime) -> String {
    match at.duration_since(now) {
        Ok(left) => format!("in {} s", left.as_secs()),
        Err(_) => "expired".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(951_782_400 + 3661)),
            "2000-02-29 01:01:01 UTC"
        );
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(1_767_225_599)),
            "2025-12-31 23:59:59 UTC"
        );
    }

    #[test]
    fn the_error_code_is_on_the_page() {
        let html = problem("login_required", "<b>no session</b>");
        assert!(html.contains("<p id=\"error\" class=\"error\"><code>login_required</code>"));
        assert!(html.contains("&lt;b&gt;no session"));
        assert!(html.contains("name=\"viewport\""));
    }
}
