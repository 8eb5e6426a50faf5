//! The fuzz targets' seed corpora (fuzz/seeds/) are meaningful: the signed tokens verify with the
//! seed keys, the keys and flows parse, the README's provisioning example is a valid plan. A seed
//! that the fuzzer would reject at once would only waste its time. Runs under `cargo test`,
//! without libFuzzer.

use std::path::Path;
use std::sync::Arc;

use sesame::authn::flow::SignInFlow;
use sesame::keys::Verifier;
use sesame::keys::jwk::{decode_verified, parse_jwks};

fn seed(target: &str, name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target)
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn verifier(name: &str) -> Arc<Verifier> {
    let jwk: serde_json::Value = serde_json::from_str(&seed("jwk", name)).unwrap();
    Arc::new(Verifier::from_jwk(&jwk).unwrap())
}

#[test]
fn seed_tokens_verify_with_the_seed_keys_and_the_bad_ones_do_not() {
    for (alg, key) in [
        ("rs256", "seed-rs256.json"),
        ("es256", "seed-es256.json"),
        ("eddsa", "seed-eddsa.json"),
    ] {
        let v = verifier(key);
        for token in [format!("seed-{alg}.txt"), format!("seed-{alg}-no-kid.txt")] {
            let (_, claims) = decode_verified(&seed("jwt", &token), |_| Some(v.clone()))
                .unwrap_or_else(|| panic!("{token} does not verify"));
            assert_eq!(claims["sub"], "acme-reports");
        }
    }
    let rs256 = verifier("seed-rs256.json");
    for bad in ["seed-alg-mismatch.txt", "seed-alg-none.txt"] {
        assert!(decode_verified(&seed("jwt", bad), |_| Some(rs256.clone())).is_none());
    }
}

#[test]
fn seed_keys_parse_and_private_ones_are_refused() {
    let jwks: serde_json::Value = serde_json::from_str(&seed("jwk", "seed-jwks.json")).unwrap();
    assert_eq!(parse_jwks(&jwks).unwrap().len(), 3);
    let no_alg: serde_json::Value =
        serde_json::from_str(&seed("jwk", "seed-no-alg-ec.json")).unwrap();
    assert!(Verifier::from_jwk(&no_alg).is_ok());
    let private: serde_json::Value =
        serde_json::from_str(&seed("jwk", "seed-private-member.json")).unwrap();
    assert!(Verifier::from_jwk(&private).is_err());
}

#[test]
fn seed_flows_and_provisioning_file() {
    for (name, valid) in [
        ("seed-password.json", true),
        ("seed-password-sms-backup.json", true),
        ("seed-federated.json", true),
        ("seed-sms-first.json", false),
        ("seed-backup-alone.json", false),
        ("seed-empty.json", false),
    ] {
        let parsed = serde_json::from_str::<SignInFlow>(&seed("sign_in_flow", name));
        assert_eq!(parsed.is_ok(), valid, "{name}: {parsed:?}");
    }
    // The README's whole example (the largest seed) is a valid plan.
    let readme = seed("provisioning", "seed-readme-4.toml");
    assert!(readme.contains("acme-reports"));
    sesame::provisioning::Plan::parse(&readme, "seed-readme-4.toml").unwrap();
}
