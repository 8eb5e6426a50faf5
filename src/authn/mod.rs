//! Authentication: the sign-in flow model and the authenticators beyond the password.
//!
//! Groundwork for the authenticator chain (issue 4): flows are validated and SMS OTP codes can be
//! generated, rendered and checked, but neither is wired into sign-in yet, so the provisioning
//! file does not accept them.

pub mod flow;
pub mod otp;
