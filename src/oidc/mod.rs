//! Protocol logic, free of the web framework.

pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod presented;
pub mod token;
pub mod tokens;
