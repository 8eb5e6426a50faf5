//! Passkeys (WebAuthn Level 3) as a Sesame factor, on kanidm's `webauthn-rs`.
//!
//! Every ceremony requires user verification (a PIN or a biometric on the device), so a passkey
//! that passes proves something the user has and something they know or are: it counts as two
//! factors. A registration may ask for a discoverable key (stored on the authenticator with the
//! user handle), which can then sign in on its own, without a username.
//!
//! `amr`: `swk` (RFC 8176: proof of possession of a software-secured key) and `user` (the
//! user's presence, which WebAuthn's UP flag proves in every ceremony). Not `hwk`: registration
//! asks for no attestation, so nothing proves the key lives in hardware, and synced passkeys
//! leave the device by design. The server adds `mfa` (user verification makes a passkey two
//! factors).
//!
//! Credentials and ceremony states are JSON; the server seals and stores them, so this crate
//! never sees a key or a database.

use serde::{Deserialize, Serialize};
use sesame_plugin_api::factor::{CredentialData, FactorError};
use sesame_plugin_api::key::{Asserted, Ceremony, KeyFactor, KeyHolder, NewKey, RelyingParty};
use webauthn_rs::prelude::{
    CredentialID, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

/// How long the browser may wait for the user (the options' `timeout`).
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The factor.
#[derive(Debug, Clone, Copy, Default)]
pub struct PasskeyFactor;

/// The factor, for the server's registry.
pub static PASSKEY: PasskeyFactor = PasskeyFactor;

/// A ceremony's state as the server keeps it: tagged, so a registration's state cannot finish
/// an assertion or the other way round.
#[derive(Serialize, Deserialize)]
#[serde(tag = "ceremony", rename_all = "snake_case")]
enum State {
    Registration {
        state: PasskeyRegistration,
        /// The key was asked to be discoverable.
        #[serde(default)]
        discoverable: bool,
    },
    Assertion {
        state: PasskeyAuthentication,
    },
    Discoverable {
        state: DiscoverableAuthentication,
    },
}

/// A key's signature counter as saved (0 when the key keeps none).
fn counter_of(key: &Passkey) -> u32 {
    serde_json::to_value(key)
        .ok()
        .and_then(|v| v["cred"]["counter"].as_u64())
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0)
}

fn internal(e: impl std::fmt::Display) -> FactorError {
    FactorError::Internal(e.to_string())
}

fn webauthn(rp: RelyingParty<'_>) -> Result<Webauthn, FactorError> {
    let origin = Url::parse(rp.origin).map_err(internal)?;
    WebauthnBuilder::new(rp.id, &origin)
        .map_err(|_| {
            FactorError::Input(format!(
                "'{}' cannot be the relying party of '{}': passkeys need a host name, not an address",
                rp.id, rp.origin
            ))
        })?
        .rp_name(rp.name)
        .timeout(TIMEOUT)
        .build()
        .map_err(internal)
}

fn seal_state(state: &State) -> Result<CredentialData, FactorError> {
    serde_json::to_vec(state)
        .map(CredentialData::new)
        .map_err(internal)
}

fn read_state(data: &CredentialData) -> Option<State> {
    serde_json::from_slice(data.expose()).ok()
}

fn read_key(data: &CredentialData) -> Option<Passkey> {
    serde_json::from_slice(data.expose()).ok()
}

fn key_data(key: &Passkey) -> Result<CredentialData, String> {
    serde_json::to_vec(key)
        .map(CredentialData::new)
        .map_err(|e| e.to_string())
}

/// The `publicKey` member of the library's options, without `null` members (a browser's
/// `parse…OptionsFromJSON` refuses `null` where a list or a string is expected).
fn browser_options(options: impl Serialize) -> Result<serde_json::Value, FactorError> {
    let mut value = serde_json::to_value(options).map_err(internal)?;
    let mut public_key = value
        .get_mut("publicKey")
        .map(serde_json::Value::take)
        .ok_or_else(|| internal("the options have no publicKey"))?;
    drop_nulls(&mut public_key);
    Ok(public_key)
}

fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

impl KeyFactor for PasskeyFactor {
    fn name(&self) -> &'static str {
        "passkey"
    }

    fn label(&self) -> &'static str {
        "passkey"
    }

    fn amr(&self) -> &'static [&'static str] {
        &["swk", "user"]
    }

    fn multi_factor(&self) -> bool {
        true
    }

    fn begin_registration(
        &self,
        rp: RelyingParty<'_>,
        holder: KeyHolder<'_>,
        held: &[CredentialData],
        discoverable: bool,
    ) -> Result<Ceremony, FactorError> {
        let exclude: Vec<CredentialID> = held
            .iter()
            .filter_map(read_key)
            .map(|k| k.cred_id().clone())
            .collect();
        let (options, state) = webauthn(rp)?
            .start_passkey_registration(
                Uuid::from_bytes(holder.handle),
                holder.name,
                holder.display_name,
                (!exclude.is_empty()).then_some(exclude),
            )
            .map_err(internal)?;
        let mut options = browser_options(&options)?;
        if discoverable {
            // The library asks for a server-side key; a key that signs in without a username
            // must live on the authenticator (WebAuthn § 5.4.4 `residentKey`).
            let selection = &mut options["authenticatorSelection"];
            selection["residentKey"] = "required".into();
            selection["requireResidentKey"] = true.into();
        }
        Ok(Ceremony {
            options,
            state: seal_state(&State::Registration {
                state,
                discoverable,
            })?,
        })
    }

    fn finish_registration(
        &self,
        rp: RelyingParty<'_>,
        state: &CredentialData,
        response: &str,
    ) -> Result<NewKey, String> {
        let Some(State::Registration {
            state,
            discoverable,
        }) = read_state(state)
        else {
            return Err("not a registration's state".into());
        };
        let answer: RegisterPublicKeyCredential =
            serde_json::from_str(response).map_err(|e| format!("not a registration: {e}"))?;
        // The browser's report (unsigned, so only a hint) that the key is not stored on the
        // authenticator: it could not sign in without a username.
        if discoverable && answer.extensions.cred_props.as_ref().and_then(|p| p.rk) == Some(false) {
            return Err("the authenticator did not store the key (credProps.rk false)".into());
        }
        let key = webauthn(rp)
            .map_err(|e| e.to_string())?
            .finish_passkey_registration(&answer, &state)
            .map_err(|e| e.to_string())?;
        Ok(NewKey {
            key_id: key.cred_id().to_vec(),
            credential: key_data(&key)?,
        })
    }

    fn begin_assertion(
        &self,
        rp: RelyingParty<'_>,
        held: &[CredentialData],
    ) -> Result<Ceremony, FactorError> {
        let keys: Vec<Passkey> = held.iter().filter_map(read_key).collect();
        if keys.is_empty() {
            // An empty list would let the browser offer any key of this relying party.
            return Err(FactorError::Input("no readable key to ask for".into()));
        }
        let (options, state) = webauthn(rp)?
            .start_passkey_authentication(&keys)
            .map_err(internal)?;
        Ok(Ceremony {
            options: browser_options(&options)?,
            state: seal_state(&State::Assertion { state })?,
        })
    }

    fn begin_discoverable(&self, rp: RelyingParty<'_>) -> Result<Ceremony, FactorError> {
        let (options, state) = webauthn(rp)?
            .start_discoverable_authentication()
            .map_err(internal)?;
        // `browser_options` keeps `publicKey` only: the library's conditional mediation (an
        // autofill prompt) is the page's choice, not the options'.
        Ok(Ceremony {
            options: browser_options(&options)?,
            state: seal_state(&State::Discoverable { state })?,
        })
    }

    fn claimed_holder(&self, response: &str) -> Option<([u8; 16], Vec<u8>)> {
        let answer: PublicKeyCredential = serde_json::from_str(response).ok()?;
        let handle: [u8; 16] = answer.get_user_unique_id()?.try_into().ok()?;
        Some((handle, answer.get_credential_id().to_vec()))
    }

    fn finish_assertion(
        &self,
        rp: RelyingParty<'_>,
        state: &CredentialData,
        response: &str,
        held: &[CredentialData],
    ) -> Asserted {
        let answer: PublicKeyCredential = match serde_json::from_str(response) {
            Ok(a) => a,
            Err(e) => return Asserted::Refused(format!("not an assertion: {e}")),
        };
        let webauthn = match webauthn(rp) {
            Ok(w) => w,
            Err(e) => return Asserted::Failed(e.to_string()),
        };
        let keys: Vec<Option<Passkey>> = held.iter().map(read_key).collect();
        let used = answer.get_credential_id();
        let Some((index, key)) = keys.iter().enumerate().find_map(|(i, k)| {
            k.as_ref()
                .filter(|k| k.cred_id().as_slice() == used)
                .map(|k| (i, k))
        }) else {
            return Asserted::Refused("signed by a key the user does not hold".into());
        };
        let result = match read_state(state) {
            Some(State::Assertion { state }) => {
                webauthn.finish_passkey_authentication(&answer, &state)
            }
            Some(State::Discoverable { state }) => {
                webauthn.finish_discoverable_authentication_v2(&answer, state, key)
            }
            _ => return Asserted::Failed("not an assertion's state".into()),
        };
        let result = match result {
            Ok(r) => r,
            Err(e) => return Asserted::Refused(e.to_string()),
        };
        // The library compares the counter with the key as it was when the ceremony began; the
        // key may have signed since (another ceremony finished first). A counter that does not
        // move past the saved one is a cloned key's (WebAuthn § 7.2 step 22).
        let saved = counter_of(key);
        if (result.counter() > 0 || saved > 0) && result.counter() <= saved {
            return Asserted::Refused(format!(
                "the signature counter {} is not past the saved {saved}: a cloned key?",
                result.counter()
            ));
        }
        let mut key = key.clone();
        let credential = match key.update_credential(&result) {
            Some(true) => match key_data(&key) {
                Ok(data) => Some(data),
                Err(e) => return Asserted::Refused(e),
            },
            _ => None,
        };
        Asserted::Passed {
            index,
            credential,
            user_verified: result.user_verified(),
        }
    }

    fn key_id(&self, credential: &CredentialData) -> Option<Vec<u8>> {
        read_key(credential).map(|k| k.cred_id().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

    const RP: RelyingParty<'static> = RelyingParty {
        id: "localhost",
        origin: "http://localhost:8080",
        name: "Acme",
    };

    fn holder() -> KeyHolder<'static> {
        KeyHolder {
            handle: *Uuid::new_v4().as_bytes(),
            name: "alice",
            display_name: "alice",
        }
    }

    fn origin() -> Url {
        Url::parse(RP.origin).unwrap()
    }

    /// The browser's part of a registration, by a software authenticator.
    fn register(device: &mut SoftPasskey, ceremony: &Ceremony) -> String {
        let options: CreationChallengeResponse =
            serde_json::from_value(serde_json::json!({ "publicKey": ceremony.options })).unwrap();
        let answer = device.do_registration(origin(), options).unwrap();
        serde_json::to_string(&answer).unwrap()
    }

    fn assert_with(device: &mut SoftPasskey, ceremony: &Ceremony) -> String {
        let options: RequestChallengeResponse =
            serde_json::from_value(serde_json::json!({ "publicKey": ceremony.options })).unwrap();
        let answer = device.do_authentication(origin(), options).unwrap();
        serde_json::to_string(&answer).unwrap()
    }

    fn enrolled(device: &mut SoftPasskey) -> NewKey {
        let ceremony = PASSKEY
            .begin_registration(RP, holder(), &[], false)
            .unwrap();
        let answer = register(device, &ceremony);
        PASSKEY
            .finish_registration(RP, &ceremony.state, &answer)
            .unwrap()
    }

    #[test]
    fn a_registered_key_signs_in_with_user_verification_and_its_counter_moves() {
        let mut device = SoftPasskey::new(true);
        let key = enrolled(&mut device);
        assert_eq!(PASSKEY.key_id(&key.credential), Some(key.key_id.clone()));

        let other = enrolled(&mut SoftPasskey::new(true));
        let held = [other.credential.clone(), key.credential.clone()];
        let ceremony = PASSKEY.begin_assertion(RP, &held).unwrap();
        // The browser gets both keys' ids, and user verification is required.
        assert_eq!(
            ceremony.options["allowCredentials"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(ceremony.options["userVerification"], "required");
        let answer = assert_with(&mut device, &ceremony);
        match PASSKEY.finish_assertion(RP, &ceremony.state, &answer, &held) {
            Asserted::Passed {
                index,
                credential,
                user_verified,
            } => {
                assert_eq!(index, 1);
                assert!(user_verified);
                // The software key counts its signatures: the saved counter moves on.
                assert!(credential.is_some_and(|c| c != key.credential));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_answer_to_another_ceremony_another_origin_or_a_foreign_key_is_refused() {
        let mut device = SoftPasskey::new(true);
        let key = enrolled(&mut device);
        let held = [key.credential.clone()];
        let first = PASSKEY.begin_assertion(RP, &held).unwrap();
        let answer = assert_with(&mut device, &first);
        // Another ceremony's challenge.
        let second = PASSKEY.begin_assertion(RP, &held).unwrap();
        assert!(matches!(
            PASSKEY.finish_assertion(RP, &second.state, &answer, &held),
            Asserted::Refused(_)
        ));
        // Another relying party's origin.
        let evil = RelyingParty {
            id: "localhost",
            origin: "http://localhost:9999",
            name: "Acme",
        };
        assert!(matches!(
            PASSKEY.finish_assertion(evil, &first.state, &answer, &held),
            Asserted::Refused(_)
        ));
        // A user who does not hold the key that signed.
        let stranger = [enrolled(&mut SoftPasskey::new(true)).credential];
        assert!(matches!(
            PASSKEY.finish_assertion(RP, &first.state, &answer, &stranger),
            Asserted::Refused(_)
        ));
        // A registration's state does not finish an assertion.
        let reg = PASSKEY
            .begin_registration(RP, holder(), &[], false)
            .unwrap();
        assert!(matches!(
            PASSKEY.finish_assertion(RP, &reg.state, &answer, &held),
            Asserted::Failed(_)
        ));
        // No readable key: no ceremony (an empty list would let the browser offer any key).
        assert!(PASSKEY.begin_assertion(RP, &[]).is_err());
        // Garbage.
        assert!(matches!(
            PASSKEY.finish_assertion(RP, &first.state, "{}", &held),
            Asserted::Refused(_)
        ));
        // The right answer still passes.
        assert!(matches!(
            PASSKEY.finish_assertion(RP, &first.state, &answer, &held),
            Asserted::Passed { index: 0, .. }
        ));
    }

    #[test]
    fn a_counter_that_does_not_move_past_the_saved_one_is_refused() {
        let mut device = SoftPasskey::new(true);
        let key = enrolled(&mut device);
        let held = [key.credential.clone()];
        // Two ceremonies begun with the key as it was; the device signs both, in order.
        let a = PASSKEY.begin_assertion(RP, &held).unwrap();
        let b = PASSKEY.begin_assertion(RP, &held).unwrap();
        let answer_a = assert_with(&mut device, &a);
        let answer_b = assert_with(&mut device, &b);
        // The later signature finishes first: its counter is saved.
        let Asserted::Passed {
            credential: Some(saved),
            ..
        } = PASSKEY.finish_assertion(RP, &b.state, &answer_b, &held)
        else {
            panic!("b passes");
        };
        // The earlier signature's counter is behind the saved one: a cloned key's answer.
        match PASSKEY.finish_assertion(RP, &a.state, &answer_a, &[saved]) {
            Asserted::Refused(why) => assert!(why.contains("counter"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_key_the_browser_reports_as_not_stored_on_the_device_is_refused_when_discoverable() {
        let mut device = SoftPasskey::new(true);
        let ceremony = PASSKEY.begin_registration(RP, holder(), &[], true).unwrap();
        // The software passkey cannot store keys: it is asked for a server-side one, and its
        // answer then says what a browser says of such a key.
        let mut options = ceremony.options.clone();
        options["authenticatorSelection"]["residentKey"] = "discouraged".into();
        options["authenticatorSelection"]["requireResidentKey"] = false.into();
        let options: CreationChallengeResponse =
            serde_json::from_value(serde_json::json!({ "publicKey": options })).unwrap();
        let answer = device.do_registration(origin(), options).unwrap();
        let mut answer = serde_json::to_value(&answer).unwrap();
        answer["extensions"]["credProps"] = serde_json::json!({ "rk": false });
        let refused = PASSKEY.finish_registration(RP, &ceremony.state, &answer.to_string());
        assert!(refused.is_err_and(|why| why.contains("credProps")));
        // Reported as stored: registered.
        answer["extensions"]["credProps"] = serde_json::json!({ "rk": true });
        assert!(
            PASSKEY
                .finish_registration(RP, &ceremony.state, &answer.to_string())
                .is_ok()
        );
    }

    #[test]
    fn a_device_without_user_verification_cannot_register() {
        let mut device = SoftPasskey::new(false);
        let ceremony = PASSKEY
            .begin_registration(RP, holder(), &[], false)
            .unwrap();
        let options: CreationChallengeResponse =
            serde_json::from_value(serde_json::json!({ "publicKey": ceremony.options })).unwrap();
        // The soft key refuses outright or answers without UV; either way no key is saved.
        if let Ok(answer) = device.do_registration(origin(), options) {
            let answer = serde_json::to_string(&answer).unwrap();
            assert!(
                PASSKEY
                    .finish_registration(RP, &ceremony.state, &answer)
                    .is_err()
            );
        }
    }

    #[test]
    fn registration_options_exclude_held_keys_and_ask_for_a_resident_key_when_discoverable() {
        let key = enrolled(&mut SoftPasskey::new(true));
        let ceremony = PASSKEY
            .begin_registration(RP, holder(), &[key.credential], true)
            .unwrap();
        let o = &ceremony.options;
        assert_eq!(o["rp"]["id"], "localhost");
        assert_eq!(o["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(o["authenticatorSelection"]["userVerification"], "required");
        assert_eq!(o["excludeCredentials"].as_array().unwrap().len(), 1);
        // No nulls for the browser's parser.
        assert!(!o.to_string().contains("null"));
        // An address is no relying party.
        let ip = RelyingParty {
            id: "127.0.0.1",
            origin: "http://127.0.0.1:8080",
            name: "Acme",
        };
        assert!(matches!(
            PASSKEY.begin_registration(ip, holder(), &[], false),
            Err(FactorError::Input(_))
        ));
    }
}
