//! Server-rendered pages from `templates/` (embedded at build time, HTML auto-escaped) and the
//! headers every page carries.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use minijinja::Environment;
use serde::Serialize;

/// The template set, loaded once.
#[derive(Debug)]
pub struct Pages {
    env: Environment<'static>,
}

impl Default for Pages {
    fn default() -> Self {
        let mut env = Environment::new();
        // A missing object's attribute is missing too, not an error: a page short of a value
        // shows less instead of failing (the console's pages read nested values).
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
        // `t("id", arg=value)`: a message in the page's language (`crate::i18n`).
        env.add_function("t", crate::i18n::template_function);
        for (name, text) in [
            ("base.html", include_str!("../../templates/base.html")),
            (
                "api_docs.html",
                include_str!("../../templates/api_docs.html"),
            ),
            (
                "console_base.html",
                include_str!("../../templates/console_base.html"),
            ),
            (
                "console_tabs.html",
                include_str!("../../templates/console_tabs.html"),
            ),
            (
                "console_home.html",
                include_str!("../../templates/console_home.html"),
            ),
            (
                "console_organization.html",
                include_str!("../../templates/console_organization.html"),
            ),
            (
                "console_sms_otp.html",
                include_str!("../../templates/console_sms_otp.html"),
            ),
            (
                "console_applications.html",
                include_str!("../../templates/console_applications.html"),
            ),
            (
                "console_application.html",
                include_str!("../../templates/console_application.html"),
            ),
            (
                "console_audit.html",
                include_str!("../../templates/console_audit.html"),
            ),
            (
                "console_error.html",
                include_str!("../../templates/console_error.html"),
            ),
            (
                "console_said.html",
                include_str!("../../templates/console_said.html"),
            ),
            (
                "console_users.html",
                include_str!("../../templates/console_users.html"),
            ),
            (
                "console_user.html",
                include_str!("../../templates/console_user.html"),
            ),
            (
                "console_sms_channel.html",
                include_str!("../../templates/console_sms_channel.html"),
            ),
            (
                "console_keys.html",
                include_str!("../../templates/console_keys.html"),
            ),
            (
                "console_webhooks.html",
                include_str!("../../templates/console_webhooks.html"),
            ),
            ("login.html", include_str!("../../templates/login.html")),
            ("error.html", include_str!("../../templates/error.html")),
            (
                "form_post.html",
                include_str!("../../templates/form_post.html"),
            ),
            ("logout.html", include_str!("../../templates/logout.html")),
            ("consent.html", include_str!("../../templates/consent.html")),
            ("otp.html", include_str!("../../templates/otp.html")),
            (
                "sent_code.html",
                include_str!("../../templates/sent_code.html"),
            ),
            ("account.html", include_str!("../../templates/account.html")),
            (
                "backup_codes.html",
                include_str!("../../templates/backup_codes.html"),
            ),
            (
                "backup_code.html",
                include_str!("../../templates/backup_code.html"),
            ),
            ("code.html", include_str!("../../templates/code.html")),
            (
                "credential_setup.html",
                include_str!("../../templates/credential_setup.html"),
            ),
            (
                "password_reset.html",
                include_str!("../../templates/password_reset.html"),
            ),
            (
                "password_reset_done.html",
                include_str!("../../templates/password_reset_done.html"),
            ),
            (
                "register.html",
                include_str!("../../templates/register.html"),
            ),
            (
                "register_sent.html",
                include_str!("../../templates/register_sent.html"),
            ),
            (
                "register_done.html",
                include_str!("../../templates/register_done.html"),
            ),
            (
                "magic_link_sent.html",
                include_str!("../../templates/magic_link_sent.html"),
            ),
            (
                "otp_code_form.html",
                include_str!("../../templates/otp_code_form.html"),
            ),
            (
                "other_ways.html",
                include_str!("../../templates/other_ways.html"),
            ),
            ("passkey.html", include_str!("../../templates/passkey.html")),
            (
                "passkey_setup.html",
                include_str!("../../templates/passkey_setup.html"),
            ),
            (
                "passkey_script.html",
                include_str!("../../templates/passkey_script.html"),
            ),
            (
                "otp_delivery.html",
                include_str!("../../templates/otp_delivery.html"),
            ),
        ] {
            env.add_template(name, text)
                .expect("built-in templates parse");
        }
        Self { env }
    }
}

impl Pages {
    /// The pages' CSP: no scripts, no framing, no foreign styles or images (the logo is served
    /// by Sesame). No form-action: browsers apply it to the redirect after a form is sent, which
    /// here goes to the client's redirect URI on another origin.
    pub const CSP: &'static str = "default-src 'none'; style-src 'unsafe-inline'; \
         img-src 'self'; frame-ancestors 'none'; base-uri 'none'";

    /// Renders a page with the strict [`Pages::CSP`].
    pub fn render(&self, status: StatusCode, name: &str, ctx: impl Serialize) -> HttpResponse {
        self.render_with_csp(status, name, ctx, Self::CSP)
    }

    /// The code page's CSP: as [`Pages::render`]'s, and it may frame its own delivery status.
    pub const CSP_FRAMING_SELF: &'static str = "default-src 'none'; style-src 'unsafe-inline'; \
         img-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'";

    /// Renders a page made to be framed by Sesame's own pages only (the delivery status on the
    /// code page): `frame-ancestors 'self'` and `X-Frame-Options: SAMEORIGIN`.
    pub fn render_frame(&self, name: &str, ctx: impl Serialize) -> HttpResponse {
        self.build(
            StatusCode::OK,
            name,
            ctx,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'; base-uri 'none'",
            "SAMEORIGIN",
        )
    }

    /// Renders a page that runs its own inline script (a passkey ceremony): the strict CSP plus
    /// that one script, by a fresh nonce (`nonce` in the template's context).
    pub fn render_with_script(
        &self,
        status: StatusCode,
        name: &str,
        ctx: minijinja::Value,
    ) -> HttpResponse {
        let nonce = crate::secret::random_token(16);
        let csp = format!(
            "default-src 'none'; script-src 'nonce-{}'; style-src 'unsafe-inline'; \
             img-src 'self'; frame-ancestors 'none'; base-uri 'none'",
            nonce.expose()
        );
        let ctx = minijinja::context! { nonce => nonce.expose(), ..ctx };
        self.render_with_csp(status, name, ctx, &csp)
    }

    pub fn render_with_csp(
        &self,
        status: StatusCode,
        name: &str,
        ctx: impl Serialize,
        csp: &str,
    ) -> HttpResponse {
        self.build(status, name, ctx, csp, "DENY")
    }

    fn build(
        &self,
        status: StatusCode,
        name: &str,
        ctx: impl Serialize,
        csp: &str,
        frame_options: &'static str,
    ) -> HttpResponse {
        // Every page shows its organization's branding (`brand`), in the request's language.
        let ctx = minijinja::context! {
            brand => super::branding::current(),
            locale => crate::i18n::current().tag(),
            ..minijinja::Value::from_serialize(&ctx)
        };
        let body = self
            .env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, template = name, "template failed");
                "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
            });
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Content-Security-Policy", csp))
            .insert_header(("X-Frame-Options", frame_options))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .body(body)
    }

    /// Renders a template to text (an email's parts: `.txt` is not escaped, `.html` is).
    pub fn text(&self, name: &str, ctx: impl Serialize) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(ctx)
    }

    /// Whether `name` is one of the pages' templates.
    pub fn has(&self, name: &str) -> bool {
        self.env.get_template(name).is_ok()
    }

    /// Replaces the template `name` (see `http::overrides`); fails when it does not parse.
    pub fn replace(&mut self, name: &str, source: String) -> Result<(), minijinja::Error> {
        self.env.add_template_owned(name.to_string(), source)
    }

    /// Renders every template with an empty context and the default brand: the first that
    /// fails, and why.
    pub fn check(&self) -> Result<(), (String, minijinja::Error)> {
        let ctx = minijinja::context! {
            brand => super::branding::current(),
            locale => crate::i18n::current().tag(),
        };
        // The names first: the environment's iterator holds the lock a template's `extends`
        // takes again.
        let names: Vec<String> = self.env.templates().map(|(n, _)| n.to_string()).collect();
        for name in names {
            let rendered = self.env.get_template(&name).and_then(|t| t.render(&ctx));
            rendered.map_err(|e| (name, e))?;
        }
        Ok(())
    }

    /// A readable error page; `title` and `message` are in the request's language already.
    pub fn error(&self, status: StatusCode, title: &str, message: &str) -> HttpResponse {
        self.render(status, "error.html", minijinja::context! { title, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_loaded_and_renders() {
        let pages = Pages::default();
        let mails = crate::mail::Templates::default();
        for entry in std::fs::read_dir("templates").unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            // The mails' templates are the mailer's (`crate::mail`), tested there.
            if mails.has(&name) {
                continue;
            }
            let template = pages
                .env
                .get_template(&name)
                .unwrap_or_else(|e| panic!("{name} is not loaded: {e}"));
            template
                .render(minijinja::context! {})
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
