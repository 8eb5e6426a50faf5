//! An organization's branding on its pages: the logo, the primary colour, a support link and the
//! default language (`[organizations.branding]`; the display name is the organization's own).
//!
//! Everything stays under the pages' strict CSP: the logo is stored in the settings as a data URL
//! and served by Sesame itself (`{issuer}/branding/logo`, so `img-src 'self'` is all the pages
//! allow), an SVG logo with a CSP of its own that runs nothing; the colour is a checked
//! `#rrggbb` written into the pages' own style sheet, dark enough for white text on it (WCAG AA,
//! 4.5:1), so a brand cannot make the buttons unreadable; the support link is `https:` or
//! `mailto:` only.

use base64::Engine;
use serde::{Deserialize, Serialize};

/// The largest logo, decoded: a page's header image, not a photograph.
pub const LOGO_MAX_BYTES: usize = 100 * 1024;

/// The colour of buttons and links when the organization sets none.
pub const DEFAULT_COLOR: &str = "#2456d3";

/// `[organizations.branding]`, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrandingSettings {
    /// The logo as a data URL: `data:image/png;base64,…` (PNG, JPEG, GIF, WebP or SVG).
    pub logo: Option<String>,
    /// Buttons and links, `#rrggbb`.
    pub primary_color: Option<String>,
    /// Where users get help: an `https:` or `mailto:` URL, linked on every page.
    pub support_url: Option<String>,
    /// The pages' language when neither the client (`ui_locales`) nor the browser
    /// (`Accept-Language`) asks for one Sesame speaks: `en` (the default), `de` or `es`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_language: Option<String>,
}

impl BrandingSettings {
    /// Checks every field; the message names the field and says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(logo) = &self.logo {
            Logo::parse(logo).map_err(|e| format!("logo: {e}"))?;
        }
        if let Some(color) = &self.primary_color {
            check_color(color).map_err(|e| format!("primary_color: {e}"))?;
        }
        if let Some(url) = &self.support_url {
            check_support_url(url).map_err(|e| format!("support_url: {e}"))?;
        }
        if let Some(tag) = &self.default_language
            && self.language().is_none()
        {
            return Err(format!(
                "default_language: Sesame does not speak \"{tag}\" (en, de or es)"
            ));
        }
        Ok(())
    }

    /// The default language, when it is one Sesame speaks (checked at import).
    pub fn language(&self) -> Option<crate::i18n::Locale> {
        let tag = self.default_language.as_deref()?;
        crate::i18n::Locale::ALL
            .into_iter()
            .find(|l| l.tag() == tag)
    }
}

/// A logo ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    /// A short hash of the bytes: the logo's URL changes with it, so it can be cached long.
    pub version: String,
}

impl Logo {
    /// Reads a data URL: one of the image types, base64, at most [`LOGO_MAX_BYTES`], and bytes
    /// that are what the type says.
    pub fn parse(data_url: &str) -> Result<Self, String> {
        let rest = data_url
            .strip_prefix("data:")
            .ok_or("must be a data URL (data:image/png;base64,…)")?;
        let (media, data) = rest
            .split_once(";base64,")
            .ok_or("must be a base64 data URL (data:image/png;base64,…)")?;
        // Parameters (`;charset=utf-8`) say nothing the bytes do not.
        let media = media.split(';').next().unwrap_or_default();
        let (content_type, looks_right): (&'static str, fn(&[u8]) -> bool) =
            match media.trim().to_ascii_lowercase().as_str() {
                "image/png" => ("image/png", |b| b.starts_with(b"\x89PNG\r\n\x1a\n")),
                "image/jpeg" => ("image/jpeg", |b| b.starts_with(b"\xff\xd8\xff")),
                "image/gif" => ("image/gif", |b| b.starts_with(b"GIF8")),
                "image/webp" => ("image/webp", |b| {
                    b.len() > 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP"
                }),
                "image/svg+xml" => ("image/svg+xml", |b| {
                    std::str::from_utf8(b).is_ok_and(|t| t.contains("<svg"))
                }),
                other => {
                    return Err(format!(
                        "{other:?} is not one of image/png, image/jpeg, image/gif, image/webp, \
                         image/svg+xml"
                    ));
                }
            };
        // Line breaks (`base64` without `-w0`) are not part of the data.
        let data: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        // Checked before decoding: base64 is 4/3 of the bytes.
        if data.len() > LOGO_MAX_BYTES.div_ceil(3) * 4 {
            return Err(format!("larger than {} KiB", LOGO_MAX_BYTES / 1024));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&data)
            .map_err(|e| format!("the base64 does not decode: {e}"))?;
        if bytes.len() > LOGO_MAX_BYTES {
            return Err(format!("larger than {} KiB", LOGO_MAX_BYTES / 1024));
        }
        if !looks_right(&bytes) {
            return Err(format!("the data is not {content_type}"));
        }
        let version = crate::secret::sha256_hex(&bytes)[..16].to_string();
        Ok(Self {
            content_type,
            bytes,
            version,
        })
    }
}

fn check_color(color: &str) -> Result<(), String> {
    let hex = color
        .strip_prefix('#')
        .filter(|h| h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()))
        .ok_or("must be #rrggbb (six hexadecimal digits)")?;
    let ratio = contrast_with_white(hex);
    if ratio < 4.5 {
        // Truncated, so a refused ratio never prints as 4.50.
        let shown = (ratio * 100.0).floor() / 100.0;
        return Err(format!(
            "{color} is too light for white text on it (contrast {shown:.2}:1; WCAG AA asks for \
             4.5:1): choose a darker shade"
        ));
    }
    Ok(())
}

/// The WCAG 2 contrast ratio of white against the colour `rrggbb`.
fn contrast_with_white(hex: &str) -> f64 {
    let channel = |i: usize| {
        let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let luminance = 0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4);
    1.05 / (luminance + 0.05)
}

fn check_support_url(url: &str) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    match parsed.scheme() {
        "https" | "mailto" => Ok(()),
        other => Err(format!("must be https: or mailto:, not {other}:")),
    }
}

/// The branding an organization's pages show, read once when the organization loads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Brand {
    pub logo: Option<Logo>,
    pub color: Option<String>,
    pub support_url: Option<String>,
}

impl Brand {
    /// The brand of valid settings; a field that no longer passes its check (settings stored by
    /// an older version) is left out rather than shown.
    pub fn of(settings: &BrandingSettings) -> Self {
        Self {
            logo: settings.logo.as_deref().and_then(|l| Logo::parse(l).ok()),
            color: settings
                .primary_color
                .clone()
                .filter(|c| check_color(c).is_ok()),
            support_url: settings
                .support_url
                .clone()
                .filter(|u| check_support_url(u).is_ok()),
        }
    }
}

/// What a page's templates read as `brand`.
#[derive(Debug, Clone, Serialize)]
pub struct PageBrand {
    pub name: String,
    pub logo_url: Option<String>,
    pub color: String,
    pub support_url: Option<String>,
}

impl PageBrand {
    pub fn new(name: &str, issuer: &str, brand: &Brand) -> Self {
        Self {
            name: name.to_string(),
            logo_url: brand
                .logo
                .as_ref()
                .map(|l| format!("{issuer}/branding/logo?v={}", l.version)),
            color: brand
                .color
                .clone()
                .unwrap_or_else(|| DEFAULT_COLOR.to_string()),
            support_url: brand.support_url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_url(media: &str, bytes: &[u8]) -> String {
        format!(
            "data:{media};base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    #[test]
    fn logos_are_checked_for_type_size_and_content() {
        let png = data_url("image/png", b"\x89PNG\r\n\x1a\nrest-of-a-png");
        let logo = Logo::parse(&png).unwrap();
        assert_eq!(logo.content_type, "image/png");
        assert_eq!(logo.version.len(), 16);
        let svg = data_url(
            "image/svg+xml",
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        );
        assert_eq!(Logo::parse(&svg).unwrap().content_type, "image/svg+xml");
        // With a parameter, and base64 broken into lines.
        let wrapped = svg.replacen(";base64,", ";charset=utf-8;base64,", 1);
        let wrapped = format!("{}\n{}", &wrapped[..40], &wrapped[40..]);
        assert_eq!(Logo::parse(&wrapped).unwrap(), Logo::parse(&svg).unwrap());
        for (bad, says) in [
            ("https://cdn.example/logo.png".to_string(), "data URL"),
            ("data:image/png,plain".to_string(), "base64"),
            (data_url("text/html", b"<script>"), "not one of"),
            (
                data_url("image/png", b"GIF89a-in-disguise"),
                "not image/png",
            ),
            (data_url("image/svg+xml", b"<html>"), "not image/svg+xml"),
            ("data:image/png;base64,@@@".to_string(), "decode"),
            (
                data_url("image/png", &vec![0x89; LOGO_MAX_BYTES + 1]),
                "larger than 100 KiB",
            ),
            (
                format!("data:image/png;base64,{}", "A".repeat(200_000)),
                "larger than 100 KiB",
            ),
        ] {
            let err = Logo::parse(&bad).unwrap_err();
            assert!(err.contains(says), "{bad:.40}: {err}");
        }
    }

    #[test]
    fn colours_must_carry_white_text() {
        assert!(check_color(DEFAULT_COLOR).is_ok());
        assert!(check_color("#000000").is_ok());
        assert!(check_color("#0b6e4f").is_ok());
        let light = check_color("#ffd700").unwrap_err();
        assert!(
            light.contains("too light") && light.contains(":1"),
            "{light}"
        );
        for bad in ["2456d3", "#2456d", "#2456dz", "red", "#2456d3; x"] {
            assert!(check_color(bad).unwrap_err().contains("#rrggbb"), "{bad}");
        }
        // White on black is 21:1, white on white 1:1.
        assert!((contrast_with_white("000000") - 21.0).abs() < 0.01);
        assert!((contrast_with_white("ffffff") - 1.0).abs() < 0.01);
    }

    #[test]
    fn support_links_are_https_or_mailto() {
        assert!(check_support_url("https://help.acme.example/").is_ok());
        assert!(check_support_url("mailto:help@acme.example").is_ok());
        assert!(check_support_url("javascript:alert(1)").is_err());
        assert!(check_support_url("http://help.acme.example/").is_err());
        assert!(check_support_url("help").is_err());
    }

    #[test]
    fn settings_name_the_field_that_is_wrong() {
        let settings = BrandingSettings {
            primary_color: Some("#fff".into()),
            ..Default::default()
        };
        assert!(
            settings
                .validate()
                .unwrap_err()
                .starts_with("primary_color")
        );
        assert!(BrandingSettings::default().validate().is_ok());
        let language = |tag: &str| BrandingSettings {
            default_language: Some(tag.into()),
            ..Default::default()
        };
        assert_eq!(language("de").language(), Some(crate::i18n::Locale::De));
        assert!(language("es").validate().is_ok());
        assert!(
            language("fr")
                .validate()
                .unwrap_err()
                .starts_with("default_language")
        );
    }
}
