//! Magic links: the settings of the `magic_link` first step.
//!
//! A link carries a 256-bit token from the OS random source (see `secret::random_token`), kept
//! only as its SHA-256, single use, and bound to the sign-in that asked for it, so it completes
//! the sign-in only in that browser. Sends are counted per address and per client IP.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MagicLinkSettings {
    /// How long a link works.
    pub lifetime_seconds: i64,
    /// Links sent to one user within `window_seconds`.
    pub max_sends_per_address: i64,
    /// Links asked for from one client IP within `window_seconds`.
    pub max_sends_per_ip: i64,
    pub window_seconds: i64,
}

impl Default for MagicLinkSettings {
    fn default() -> Self {
        Self {
            lifetime_seconds: 300,
            max_sends_per_address: 5,
            max_sends_per_ip: 30,
            window_seconds: 3600,
        }
    }
}

impl MagicLinkSettings {
    /// Checks the bounds; the message names the field. A link outliving its sign-in (15
    /// minutes) could never be used, so 900 s is the most.
    pub fn validate(&self) -> Result<(), String> {
        let check = super::in_range;
        check("lifetime_seconds", self.lifetime_seconds, 60, 900)?;
        check("max_sends_per_address", self.max_sends_per_address, 1, 100)?;
        check("max_sends_per_ip", self.max_sends_per_ip, 1, 10_000)?;
        check("window_seconds", self.window_seconds, 60, 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_name_the_field() {
        MagicLinkSettings::default().validate().unwrap();
        let long = MagicLinkSettings {
            lifetime_seconds: 3600,
            ..Default::default()
        };
        assert!(long.validate().unwrap_err().starts_with("lifetime_seconds"));
    }
}
