//! Which of Sesame's languages a client or a browser asks for.

use super::locale::Locale;

/// The first of `ui_locales` (space-separated BCP 47 tags, in order of preference) that Sesame
/// speaks. Tags it does not speak are skipped, as OpenID Connect Core §3.1.2.1 allows.
pub fn from_ui_locales(tags: &[String]) -> Option<Locale> {
    tags.iter().find_map(|t| Locale::from_tag(t))
}

/// The language a browser's `Accept-Language` prefers most among Sesame's (RFC 9110 §12.5.4):
/// by quality, then by order; `q=0` means "not this one", `*` adds nothing (the organization's
/// default comes next anyway), and a malformed entry is skipped rather than failing the page.
pub fn from_accept_language(header: &str) -> Option<Locale> {
    let mut best: Option<(u16, Locale)> = None;
    for entry in header.split(',').take(32) {
        let mut parts = entry.split(';');
        let Some(locale) = parts.next().and_then(Locale::from_tag) else {
            continue;
        };
        let quality = parts
            .find_map(|p| {
                let (name, value) = p.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| quality(value.trim()))
            })
            .unwrap_or(Some(1000));
        let Some(quality) = quality else { continue };
        if quality > 0 && best.is_none_or(|(q, _)| quality > q) {
            best = Some((quality, locale));
        }
    }
    best.map(|(_, l)| l)
}

/// A quality value (`0`, `0.8`, `1.000`) in thousandths; `None` when it is not one.
fn quality(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}
