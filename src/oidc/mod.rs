//! Protocol logic, free of the web framework.

pub mod authorize;
pub mod discovery;
pub mod tokens;
