//! Form bodies and query strings as the endpoints read them: `serde_urlencoded` into pairs (the
//! OAuth endpoints, through `Params`) and into the browser forms' own types (sign-in, code,
//! magic link, consent, account changes, WebSub). Also checks that what `read_params` encodes
//! again parses back to the same pairs, since that text goes into a `Location` header.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use sesame::oidc::authorize::Params;

fuzz_target!(|data: &[u8]| {
    let _ = serde_urlencoded::from_bytes::<sesame::http::signin::LoginForm>(data);
    let _ = serde_urlencoded::from_bytes::<sesame::http::signin::CodeForm>(data);
    let _ = serde_urlencoded::from_bytes::<sesame::http::magic_link::LinkRequest>(data);
    let _ = serde_urlencoded::from_bytes::<sesame::http::authorize::ConsentForm>(data);
    let _ = serde_urlencoded::from_bytes::<sesame::http::account::ChangeForm>(data);
    let _ = serde_urlencoded::from_bytes::<sesame::http::federation::StartForm>(data);
    let _ = serde_urlencoded::from_bytes::<HashMap<String, String>>(data);

    let raw = String::from_utf8_lossy(data);
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(&raw) else {
        return;
    };
    let encoded = serde_urlencoded::to_string(&pairs).expect("pairs of strings always encode");
    let again: Vec<(String, String)> =
        serde_urlencoded::from_str(&encoded).expect("an encoded form parses");
    assert_eq!(
        again, pairs,
        "encoding a form and parsing it back changes it"
    );
    assert!(
        !encoded.bytes().any(|b| b.is_ascii_control() || b == b' '),
        "an encoded form must be fit for a Location header: {encoded:?}"
    );
    let params = Params::from_pairs(pairs.clone());
    let _ = params.control_character();
    let _ = params.repeated();
    for (k, _) in &pairs {
        let _ = params.get(k);
    }
});
