//! Phone numbers as users, administrators and provisioning files type them. A parsed number is
//! E.164 (`+` and 8-15 digits), parses again to itself, and masks without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sesame::domain::PhoneNumber;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(number) = PhoneNumber::parse(text) else {
        return;
    };
    let s = number.as_str();
    assert!(s.starts_with('+'), "{s}");
    assert!((9..=16).contains(&s.len()), "{s}");
    assert!(s[1..].bytes().all(|b| b.is_ascii_digit()), "{s}");
    assert_eq!(
        PhoneNumber::parse(s).as_ref().map(PhoneNumber::as_str),
        Ok(s)
    );
    let masked = number.masked();
    assert!(masked.ends_with(&s[s.len() - 4..]));
    assert!(!masked.contains(&s[..s.len() - 4]) || s.len() <= 4);
});
