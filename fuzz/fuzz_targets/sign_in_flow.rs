//! The sign-in flow syntax: the stored JSON form (`[["password"], ["sms_otp", "backup_code"]]`)
//! and the same lists validated with backup codes off. A valid flow starts with a step that
//! identifies the user, survives its own round trip, and gives a required flow for any
//! `acr_values`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame::authn::flow::{ACR_MFA, PassedList, SignInFlow};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        // The authenticators a sign-in passed, stored beside the flow.
        let passed = PassedList::from_json(text);
        let _ = (passed.amr(), passed.acr(), passed.identified_at());
    }
    let Ok(names) = serde_json::from_slice::<Vec<Vec<String>>>(data) else {
        // Other JSON still goes through the stored form's reader.
        let _ = serde_json::from_slice::<SignInFlow>(data);
        return;
    };
    let stored = serde_json::from_slice::<SignInFlow>(data);
    let with_backup = SignInFlow::parse(&names, true);
    assert_eq!(
        stored.is_ok(),
        with_backup.is_ok(),
        "the stored form allows backup codes"
    );
    let without_backup = SignInFlow::parse(&names, false);
    if without_backup.is_ok() {
        assert!(
            with_backup.is_ok(),
            "turning backup codes on refuses no flow"
        );
    }
    let Ok(flow) = with_backup else {
        return;
    };
    assert!(flow.steps()[0].iter().all(|a| a.identifies()));
    assert_eq!(
        SignInFlow::parse(&flow.to_names(), true).as_ref(),
        Ok(&flow)
    );
    let json = serde_json::to_string(&flow).unwrap();
    assert_eq!(serde_json::from_str::<SignInFlow>(&json).unwrap(), flow);
    let passed = PassedList::default();
    assert_eq!(flow.next_step(&passed), Some(&flow.steps()[0][..]));
    for backup in [false, true] {
        let mfa = SignInFlow::required(&flow, backup, &[ACR_MFA.to_string()]);
        assert!(mfa.is_multi_factor(), "acr_values=mfa gets a second factor");
        assert_eq!(SignInFlow::required(&flow, backup, &[]), flow);
    }
});
