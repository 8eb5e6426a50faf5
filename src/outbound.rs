//! The one outbound HTTP client, shared with the plugins (it lives in the plugin API crate).

pub use sesame_plugin_api::outbound::*;
