//! Protocol logic, free of the web framework.

pub mod discovery;
