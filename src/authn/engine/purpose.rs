//! What a sign-in is for — an application's authorization, or the account area's own checks
//! (a fresh pass, confirming a number, a password reset) — and the flow each must pass.

use super::*;

/// What a sign-in is for.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// An application's authorization request.
    Authorize {
        auth: Box<AuthRequest>,
        app: Box<Application>,
    },
    /// The account area (no application): a fresh check before a change, or confirming a new
    /// mobile number.
    Account(AccountRequest),
}

/// An account-area transaction, stored as its request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "account", rename_all = "snake_case")]
pub enum AccountRequest {
    /// The user's full chain again: a first step, then their second factor when they have one.
    Verify,
    /// An OTP sent to `number`; entering it saves the number as the user's, verified.
    Phone { number: String },
    /// "Forgot your password?" (`authn::reset`): a link mailed to the user, then their second
    /// factor when the organization asks for it; passing it lets this browser choose a new
    /// password and opens no session. `back`: the sign-in the user left for it (the same
    /// browser's), continued afterwards.
    Reset {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        back: Option<String>,
        /// The `ui_locales` of the sign-in it was begun from: the reset speaks its language.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ui_locales: Vec<String>,
    },
}

/// The `ui_locales` a stored request carries: an authorization's, or a reset's begun from one.
pub fn stored_ui_locales(request: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Languages {
        #[serde(default)]
        ui_locales: Vec<String>,
    }
    serde_json::from_str::<Languages>(request).map_or_else(|_| Vec::new(), |l| l.ui_locales)
}

/// Makes the `ui_locales` of the stored request `tx` the language of the request handling it.
pub fn prefer_languages_of(tx: &LoginTransaction) {
    crate::i18n::prefer_ui_locales(&stored_ui_locales(&tx.request));
}

/// The flow an authorization must pass: the application's, or more when `acr_values` asks.
pub fn required_flow(app: &Application, auth: &AuthRequest) -> SignInFlow {
    SignInFlow::required(&app.flow(), app.backup_codes, &auth.acr_values)
}

impl Purpose {
    /// What a stored transaction is for; `None` for a consent transaction or an unreadable one.
    /// Its `ui_locales` become the language of the request handling it.
    pub fn of(tx: &LoginTransaction, app: Option<Application>) -> Option<Self> {
        let purpose = match app {
            Some(app) => match serde_json::from_str::<AuthRequest>(&tx.request) {
                Ok(auth) if auth.consent_sid.is_none() => Some(Self::Authorize {
                    auth: Box::new(auth),
                    app: Box::new(app),
                }),
                _ => None,
            },
            None => serde_json::from_str::<AccountRequest>(&tx.request)
                .ok()
                .map(Self::Account),
        }?;
        crate::i18n::prefer_ui_locales(purpose.ui_locales());
        Some(purpose)
    }

    /// The `ui_locales` the sign-in keeps: its authorization's, or those of the sign-in a reset
    /// was begun from.
    fn ui_locales(&self) -> &[String] {
        match self {
            Self::Authorize { auth, .. } => &auth.ui_locales,
            Self::Account(AccountRequest::Reset { ui_locales, .. }) => ui_locales,
            Self::Account(_) => &[],
        }
    }

    /// The flow this sign-in must pass. An account check asks for any first step the
    /// organization's applications offer (so users of magic links or upstream providers can
    /// reach their account too), then the second step only when the user has a second factor (a
    /// verified number or backup codes); confirming a number asks for its code.
    pub async fn flow(
        &self,
        core: &Core,
        org: &OrgEntry,
        user: Option<&User>,
    ) -> Result<SignInFlow, CoreError> {
        Ok(match self {
            Self::Authorize { auth, app } => required_flow(app, auth),
            Self::Account(AccountRequest::Verify) => {
                let second = match user {
                    Some(u) => second_factors(core, u).await?,
                    None => vec![Authenticator::SmsOtp, Authenticator::BackupCode],
                };
                SignInFlow::account_check(org.first_steps.clone(), second)
            }
            Self::Account(AccountRequest::Phone { .. }) => {
                let mut flow = SignInFlow::account_check(org.first_steps.clone(), Vec::new());
                flow.require_sms_otp();
                flow
            }
            Self::Account(AccountRequest::Reset { .. }) => {
                let settings = &org.org.settings.password_reset;
                if !settings.enabled {
                    // Turned off meanwhile: a reset under way cannot go on.
                    return Ok(SignInFlow::closed());
                }
                // Where an application takes a code by email as the second factor, the next
                // sign-in would not stop whoever holds the mailbox: the reset asks for the
                // second factor then, whatever the setting. (The user's second factors never
                // include an emailed code: it would prove the mailbox the link just proved.)
                let second = match user {
                    Some(u) if settings.require_second_factor || org.mails_codes => {
                        second_factors(core, u).await?
                    }
                    _ => Vec::new(),
                };
                SignInFlow::password_reset(second)
            }
        })
    }

    /// Whether the sign-in is a password reset (passing it opens no session).
    pub fn resets_password(&self) -> bool {
        matches!(self, Self::Account(AccountRequest::Reset { .. }))
    }

    /// What the pages and the text message name: the application, or the account (in the
    /// request's language).
    pub fn name(&self, org: &OrgEntry) -> String {
        let id = match self {
            Self::Authorize { app, .. } => return app.name.clone(),
            Self::Account(AccountRequest::Reset { .. }) => "engine-purpose-reset",
            Self::Account(_) => "engine-purpose-account",
        };
        crate::i18n::text(id, &[("org", org.org.display_name.as_str().into())])
    }

    pub fn login_hint(&self) -> Option<&str> {
        match self {
            Self::Authorize { auth, .. } => auth.login_hint.as_deref(),
            Self::Account(_) => None,
        }
    }

    /// The client in logs and events.
    pub fn client(&self) -> &str {
        match self {
            Self::Authorize { app, .. } => app.client_id.as_str(),
            Self::Account(AccountRequest::Reset { .. }) => "(password reset)",
            Self::Account(_) => "(account)",
        }
    }
}
