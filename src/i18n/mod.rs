//! Languages: the pages, mails and text messages in the user's language.
//!
//! Messages are [Fluent](https://projectfluent.org) bundles embedded at build time
//! (`locales/{en,de,es}/*.ftl`, one file per area). English is complete by construction and the
//! fallback for any message a language lacks (a unit test keeps German and Spanish complete).
//!
//! The language of a request is, in order: the client's `ui_locales` (OpenID Connect Core §3.1.2.1,
//! kept with the sign-in), then the browser's `Accept-Language`, then the organization's
//! `default_language` (`[organizations.branding]`), then English. The pages of the `/t/{org}`
//! scope run inside [`scope`]; handlers add what they learn ([`prefer_ui_locales`],
//! [`set_default`]) and [`current`] reads the result, so the engine's own messages (a step's error,
//! a refusal) come out in the page's language without every call passing it along. Work that
//! outlives the request (a mail sent in the background) takes [`current`] with it.
//!
//! Times are never shown as raw UTC: [`until`] says "in 5 minutes", [`ago`] "3 hours ago".

mod locale;
mod negotiate;

use std::cell::RefCell;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

pub use locale::Locale;
pub use negotiate::{from_accept_language, from_ui_locales};

/// The messages of each language, parsed once.
static BUNDLES: LazyLock<Vec<FluentBundle<FluentResource>>> =
    LazyLock::new(|| Locale::ALL.into_iter().map(bundle).collect());

/// The `.ftl` files of a language, as built in.
fn sources(locale: Locale) -> &'static [(&'static str, &'static str)] {
    macro_rules! files {
        ($lang:literal: $($area:literal),*) => {
            &[$(($area, include_str!(concat!("../../locales/", $lang, "/", $area, ".ftl")))),*]
        };
    }
    match locale {
        Locale::En => {
            files!("en": "common", "signin", "steps", "engine", "account", "selfservice", "mail", "sms", "errors", "forms")
        }
        Locale::De => {
            files!("de": "common", "signin", "steps", "engine", "account", "selfservice", "mail", "sms", "errors", "forms")
        }
        Locale::Es => {
            files!("es": "common", "signin", "steps", "engine", "account", "selfservice", "mail", "sms", "errors", "forms")
        }
    }
}

fn bundle(locale: Locale) -> FluentBundle<FluentResource> {
    let id = locale
        .tag()
        .parse()
        .expect("the built-in tags are language identifiers");
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // No Unicode isolation marks around arguments: the pages and mails are left-to-right
    // and the marks would end up inside codes and addresses.
    bundle.set_use_isolating(false);
    for (area, text) in sources(locale) {
        let resource = FluentResource::try_new(text.to_string()).unwrap_or_else(|(_, errors)| {
            panic!("locales/{}/{area}.ftl: {errors:?}", locale.tag())
        });
        bundle
            .add_resource(resource)
            .unwrap_or_else(|errors| panic!("locales/{}/{area}.ftl: {errors:?}", locale.tag()));
    }
    bundle
}

/// An argument of a message.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Number(i64),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Self::Text(v.to_string())
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Self::Text(v.clone())
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Self::Number(v)
    }
}

impl From<u32> for Arg {
    fn from(v: u32) -> Self {
        Self::Number(v.into())
    }
}

/// The message `id` in `locale`, its arguments filled in; English when the language lacks it,
/// the id itself when English does too (a unit test keeps that from happening).
pub fn text_in(locale: Locale, id: &str, args: &[(&str, Arg)]) -> String {
    let mut fluent_args = FluentArgs::new();
    for (name, value) in args {
        match value {
            Arg::Text(s) => fluent_args.set(*name, FluentValue::from(s.as_str())),
            Arg::Number(n) => fluent_args.set(*name, FluentValue::from(*n)),
        }
    }
    for locale in [locale, Locale::En] {
        let bundle = &BUNDLES[locale.index()];
        if let Some(pattern) = bundle.get_message(id).and_then(|m| m.value()) {
            let mut errors = Vec::new();
            let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
            if !errors.is_empty() {
                tracing::warn!(
                    id,
                    locale = locale.tag(),
                    ?errors,
                    "message arguments missing"
                );
            }
            return text.into_owned();
        }
    }
    tracing::warn!(id, "no such message");
    id.to_string()
}

/// The message `id` in the current request's language (see [`current`]).
pub fn text(id: &str, args: &[(&str, Arg)]) -> String {
    text_in(current(), id, args)
}

/// How a factor is named (`what`: `label`, `offer`) in the current language: Sesame's own
/// words for the factors it ships (`factor-{name}-{what}`), the plug-in's own (English) words
/// for others.
pub fn factor_text(factor: &str, what: &str, plugin_words: &str) -> String {
    let id = format!("factor-{}-{what}", factor.replace('_', "-"));
    if BUNDLES[Locale::En.index()].has_message(&id) {
        text(&id, &[])
    } else {
        plugin_words.to_string()
    }
}

/// What a request told about its language, gathered as the handler learns it.
#[derive(Debug, Clone, Copy, Default)]
struct Preferences {
    ui_locales: Option<Locale>,
    accept_language: Option<Locale>,
    default: Option<Locale>,
}

tokio::task_local! {
    static PREFERENCES: RefCell<Preferences>;
}

/// Runs `fut` (a request to a page) with the browser's `Accept-Language`.
pub async fn scope<F: std::future::Future>(accept_language: Option<&str>, fut: F) -> F::Output {
    let prefs = Preferences {
        accept_language: accept_language.and_then(from_accept_language),
        ..Preferences::default()
    };
    PREFERENCES.scope(RefCell::new(prefs), fut).await
}

/// Runs `fut` (work a request left behind, such as a mail) in `locale`.
pub async fn with_locale<F: std::future::Future>(locale: Locale, fut: F) -> F::Output {
    let prefs = Preferences {
        ui_locales: Some(locale),
        ..Preferences::default()
    };
    PREFERENCES.scope(RefCell::new(prefs), fut).await
}

/// The organization's default language, for the request being handled.
pub fn set_default(locale: Option<Locale>) {
    let _ = PREFERENCES.try_with(|p| p.borrow_mut().default = locale);
}

/// The client's `ui_locales` of the sign-in being handled: they come before the browser's.
pub fn prefer_ui_locales(tags: &[String]) {
    let locale = from_ui_locales(tags);
    if locale.is_some() {
        let _ = PREFERENCES.try_with(|p| p.borrow_mut().ui_locales = locale);
    }
}

/// A request's own `ui_locales` parameter (space-separated tags), before any sign-in holds it:
/// an authorization answering at once, a sign-out.
pub fn prefer_ui_locales_param(value: &str) {
    let tags: Vec<String> = value.split(' ').take(10).map(str::to_string).collect();
    prefer_ui_locales(&tags);
}

/// The language of the request being handled; English outside a page's request.
pub fn current() -> Locale {
    PREFERENCES
        .try_with(|p| {
            let p = p.borrow();
            p.ui_locales.or(p.accept_language).or(p.default)
        })
        .ok()
        .flatten()
        .unwrap_or(Locale::En)
}

/// How long ago `at` was, in words of the current language ("3 hours ago", "just now"); a time
/// a little ahead of this node's clock (another node's) is "just now", not "in 2 seconds".
pub fn ago(at: i64, now: i64) -> String {
    ago_in(current(), at, now)
}

/// [`ago`] in `locale`.
pub fn ago_in(locale: Locale, at: i64, now: i64) -> String {
    spoken(locale, "time-ago", now - at, false)
}

/// How long until `at`, in words of the current language ("in 5 minutes"), rounded up: a wait
/// is never shown shorter than it is.
pub fn until(at: i64, now: i64) -> String {
    until_in(current(), at, now)
}

/// [`until`] in `locale`.
pub fn until_in(locale: Locale, at: i64, now: i64) -> String {
    spoken(locale, "time-in", at - now, true)
}

/// A wait of `seconds` from now, in words of the current language: "in 30 seconds".
pub fn from_now(seconds: i64) -> String {
    until(seconds, 0)
}

/// How long until `until`, in words of the current language after a preposition ("15 minutes"
/// in "Try again after 15 minutes"), rounded up.
pub fn duration(until: i64, now: i64) -> String {
    duration_in(current(), until, now)
}

/// [`duration`] in `locale`.
pub fn duration_in(locale: Locale, until: i64, now: i64) -> String {
    spoken(locale, "duration", until - now, true)
}

/// A span of `seconds` (none when negative) said with the messages `{prefix}-{unit}`.
fn spoken(locale: Locale, prefix: &str, seconds: i64, round_up: bool) -> String {
    let (unit, n) = unit_of(seconds.max(0), round_up);
    text_in(
        locale,
        &format!("{prefix}-{unit}"),
        &[("n", Arg::Number(n))],
    )
}

/// The unit a span of `seconds` is said in, and how many of it (rounded up or down): the
/// largest that says fewer than 60 seconds, 60 minutes or 48 hours, so a rounded-up 3,599
/// seconds is "1 hour", not "60 minutes".
fn unit_of(seconds: i64, round_up: bool) -> (&'static str, i64) {
    const UNITS: [(&str, i64, i64); 4] = [
        ("seconds", 1, 60),
        ("minutes", 60, 3600),
        ("hours", 3600, 2 * 86_400),
        ("days", 86_400, i64::MAX),
    ];
    let mut said = ("days", 0);
    for (unit, size, below) in UNITS {
        let n = if round_up {
            (seconds + size - 1) / size
        } else {
            seconds / size
        };
        said = (unit, n);
        if n.saturating_mul(size) < below {
            break;
        }
    }
    said
}

/// The template function `t(id, name=value, …)`: the message in the page's `locale` (a variable
/// of every page and mail). Messages may hold markup, so in an HTML template the arguments are
/// escaped and the result is not; in a text template neither is.
pub fn template_function(
    state: &minijinja::State,
    id: &str,
    kwargs: minijinja::value::Kwargs,
) -> Result<minijinja::Value, minijinja::Error> {
    let locale = state
        .lookup("locale")
        .and_then(|v| v.as_str().and_then(Locale::from_tag))
        .unwrap_or(Locale::En);
    let html = !matches!(state.auto_escape(), minijinja::AutoEscape::None);
    let mut args = Vec::new();
    for name in kwargs.args() {
        let value: minijinja::Value = kwargs.get(name)?;
        let arg = match i64::try_from(value.clone()) {
            Ok(n) if value.is_number() => Arg::Number(n),
            // A value the template marked safe (a link it built) is markup already.
            _ if html && !value.is_safe() => {
                Arg::Text(minijinja::HtmlEscape(&value.to_string()).to_string())
            }
            _ => Arg::Text(value.to_string()),
        };
        args.push((name, arg));
    }
    let text = text_in(locale, id, &args);
    Ok(if html {
        minijinja::Value::from_safe_string(text)
    } else {
        minijinja::Value::from(text)
    })
}

#[cfg(test)]
mod tests;
