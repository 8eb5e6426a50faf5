//! Authentication: the sign-in flow engine and the authenticators beyond the password.
//!
//! `flow` holds the model (steps of alternative authenticators, what a sign-in has passed, the
//! `amr`/`acr` it earns); `factor` the properties of each authenticator that the rules ask for;
//! `engine` runs a sign-in (commands in, outcomes out, see `outcome`) under `policy` (locks,
//! throttles, send limits); `magic_link` and `federation` hold the first steps beyond the
//! password (`upstream` is Sesame's client of the providers), `otp` and `backup` the
//! second-factor codes. The pages and the JSON API that render the engine's outcomes are in
//! `http::signin` and `http::native`.

pub mod backup;
pub mod credentials;
pub mod engine;
pub mod factor;
pub mod federation;
pub mod flow;
pub mod magic_link;
pub mod otp;
pub mod outcome;
pub mod policy;
pub mod sent_code;
pub mod sms_limits;
pub mod upstream;
