//! The languages Sesame speaks, by their BCP 47 tags.

use serde::{Deserialize, Serialize};

/// A language Sesame speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    En,
    De,
    Es,
}

impl Locale {
    /// Every language, English first (discovery's `ui_locales_supported`).
    pub const ALL: [Locale; 3] = [Locale::En, Locale::De, Locale::Es];

    /// The BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
            Self::Es => "es",
        }
    }

    /// The language of a BCP 47 tag (`de`, `de-AT`, `ES-419`): its primary subtag.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?;
        Self::ALL
            .into_iter()
            .find(|l| l.tag().eq_ignore_ascii_case(primary))
    }

    /// Its place in [`Locale::ALL`].
    pub(super) fn index(self) -> usize {
        self as usize
    }
}
