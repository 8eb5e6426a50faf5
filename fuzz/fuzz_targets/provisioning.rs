//! The provisioning file (`sesame import`): any text must give a plan or a list of errors. Parsing
//! touches no database; hashing clear passwords happens only when a plan is applied.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match sesame::provisioning::Plan::parse(text, "fuzz.toml") {
        Ok(plan) => {
            let _ = format!("{plan:?}");
        }
        Err(errors) => {
            assert!(!errors.0.is_empty(), "a refused file says why");
            let _ = errors.to_string();
        }
    }
});
