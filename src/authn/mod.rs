//! Authentication: the sign-in flow engine and the authenticators beyond the password.
//!
//! `flow` holds the model (steps of alternative authenticators, what a sign-in has passed, the
//! `amr`/`acr` it earns); `magic_link` and `federation` the first steps beyond the password
//! (`upstream` is Sesame's client of the providers); `otp` and `backup` the second-factor codes.
//! The pages that run them are in `http::signin`.

pub mod backup;
pub mod engine;
pub mod federation;
pub mod flow;
pub mod magic_link;
pub mod otp;
pub mod outcome;
pub mod policy;
pub mod upstream;
