//! Property tests (proptest) of the code generators and the limit arithmetic: the SMS OTP and
//! backup-code generators and their normalisation, and the lock policy's bounds and durations.
//! They use only the public API, so the modules' own unit tests stay where they are.

use proptest::prelude::*;
use sesame::authn::backup::{self, BackupCodeSettings};
use sesame::authn::otp::OtpSettings;
use sesame::authn::policy::LockPolicy;
use sesame::keys::Kek;
use sesame::secret::Secret;

/// The backup-code alphabet as documented: lower-case letters and digits without 0/o, 1/i/l.
const BACKUP_ALPHABET: &str = "23456789abcdefghjkmnpqrstuvwxyz";

/// Values around each bound of a documented range, and anything else, so the edges are hit.
fn around(lo: i64, hi: i64) -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => lo - 2..=lo + 2,
        3 => hi - 2..=hi + 2,
        2 => lo..=hi,
        1 => any::<i64>(),
    ]
}

fn valid_otp_settings() -> impl Strategy<Value = OtpSettings> {
    any::<bool>().prop_flat_map(|numeric_only| {
        let lo = if numeric_only { 6 } else { 4 };
        (lo..=10usize).prop_map(move |length| OtpSettings {
            numeric_only,
            length,
            ..OtpSettings::default()
        })
    })
}

/// Pearson's chi-square statistic of `counts` against the uniform distribution.
fn chi_square(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    let expected = total as f64 / counts.len() as f64;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn otp_codes_have_the_configured_length_and_alphabet(settings in valid_otp_settings()) {
        prop_assert!(settings.validate().is_ok());
        for _ in 0..20 {
            let code = settings.generate();
            let code = code.expose();
            prop_assert_eq!(code.chars().count(), settings.length);
            if settings.numeric_only {
                prop_assert!(code.bytes().all(|b| b.is_ascii_digit()), "{}", code);
            } else {
                prop_assert!(
                    code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
                    "{}",
                    code
                );
            }
            // A generated code is already in normal form, and survives how users type it.
            prop_assert_eq!(&settings.normalize(code), code);
            let typed: String = code
                .chars()
                .flat_map(|c| [c.to_ascii_lowercase(), ' '])
                .collect();
            prop_assert_eq!(&settings.normalize(&typed), code);
        }
    }

    #[test]
    fn otp_normalisation_is_idempotent_and_drops_whitespace(typed in any::<String>(), numeric_only in any::<bool>()) {
        let settings = OtpSettings { numeric_only, ..OtpSettings::default() };
        let once = settings.normalize(&typed);
        prop_assert_eq!(settings.normalize(&once), once.clone());
        prop_assert!(!once.chars().any(char::is_whitespace));
        prop_assert!(!once.chars().any(|c| c.is_ascii_lowercase()));
    }

    #[test]
    fn otp_settings_validate_exactly_the_documented_ranges(
        numeric_only in any::<bool>(),
        length in 0usize..=14,
        expiry_seconds in around(30, 3600),
        resend_attempts in around(1, 20),
        resend_block_seconds in around(0, 86_400),
        resend_cooldown_seconds in around(0, 300),
        max_failed_attempts in around(1, 10),
    ) {
        let settings = OtpSettings {
            numeric_only,
            length,
            expiry_seconds,
            resend_attempts,
            resend_block_seconds,
            resend_cooldown_seconds,
            max_failed_attempts,
            ..OtpSettings::default()
        };
        let min_length = if numeric_only { 6 } else { 4 };
        let documented = (min_length..=10).contains(&length)
            && (30..=3600).contains(&expiry_seconds)
            && (1..=20).contains(&resend_attempts)
            && (0..=86_400).contains(&resend_block_seconds)
            && (0..=300).contains(&resend_cooldown_seconds)
            && (1..=10).contains(&max_failed_attempts);
        prop_assert_eq!(settings.validate().is_ok(), documented, "{:?}", settings);
    }

    #[test]
    fn backup_code_sets_have_the_configured_shape(count in 1usize..=20, length in 8usize..=20) {
        let settings = BackupCodeSettings { count, length };
        prop_assert!(settings.validate().is_ok());
        let set = settings.generate();
        prop_assert_eq!(set.len(), count);
        for code in &set {
            let shown = code.expose();
            // Two halves joined by one hyphen, the first half the shorter when odd.
            let (a, b) = shown.split_once('-').expect("a hyphen");
            prop_assert_eq!(a.len(), length / 2);
            prop_assert_eq!(a.len() + b.len(), length);
            let normal = backup::normalize(shown);
            prop_assert_eq!(normal.len(), length);
            prop_assert!(normal.chars().all(|c| BACKUP_ALPHABET.contains(c)), "{}", normal);
            prop_assert_eq!(backup::normalize(&shown.to_uppercase().replace('-', " - ")), normal);
        }
    }

    #[test]
    fn backup_normalisation_is_idempotent(typed in any::<String>()) {
        let once = backup::normalize(&typed);
        prop_assert_eq!(backup::normalize(&once), once.clone());
        prop_assert!(!once.contains('-'));
        prop_assert!(!once.chars().any(char::is_whitespace));
        prop_assert!(!once.chars().any(|c| c.is_ascii_uppercase()));
    }

    #[test]
    fn backup_hashes_ignore_how_a_code_is_typed(user in "[a-z0-9-]{1,36}", seed in any::<[u8; 32]>()) {
        let kek = Kek::new(Secret::new(seed));
        let settings = BackupCodeSettings::default();
        let code = settings.generate().remove(0);
        let code = code.expose();
        let stored = backup::keyed_hash(&kek, &user, code).unwrap();
        let typed = format!(" {} ", code.to_uppercase().replace('-', " "));
        prop_assert_eq!(backup::keyed_hash(&kek, &user, &typed).unwrap(), stored.clone());
        prop_assert_ne!(backup::keyed_hash(&kek, &format!("{user}x"), code).unwrap(), stored);
    }

    #[test]
    fn backup_settings_validate_exactly_the_documented_ranges(count in 0usize..=25, length in 0usize..=25) {
        let documented = (1..=20).contains(&count) && (8..=20).contains(&length);
        prop_assert_eq!(BackupCodeSettings { count, length }.validate().is_ok(), documented);
    }
}

fn valid_lock_policy() -> impl Strategy<Value = LockPolicy> {
    (1i64..=86_400 * 30, 1i64..=10)
        .prop_flat_map(|(duration, growth)| {
            (
                Just(duration),
                Just(growth),
                duration..=86_400 * 365,
                1i64..=100,
            )
        })
        .prop_map(
            |(duration_seconds, growth_factor, max_duration_seconds, max_attempts)| LockPolicy {
                max_attempts,
                duration_seconds,
                growth_factor,
                max_duration_seconds,
                ..LockPolicy::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The n-th lock lasts `duration × growthⁿ`, capped at the maximum: never shorter than the
    /// one before, never longer than the cap, and the first one is the configured duration.
    #[test]
    fn lock_durations_grow_monotonically_up_to_the_cap(policy in valid_lock_policy(), n in 0i64..80) {
        let d = policy.lock_duration(n);
        prop_assert!(d >= policy.duration_seconds);
        prop_assert!(d <= policy.max_duration_seconds);
        prop_assert!(policy.lock_duration(n + 1) >= d);
        prop_assert_eq!(policy.lock_duration(0), policy.duration_seconds);
        let exact = (policy.duration_seconds as i128)
            .saturating_mul((policy.growth_factor as i128).saturating_pow(n.min(64) as u32));
        prop_assert_eq!(d as i128, exact.min(policy.max_duration_seconds as i128));
    }

    #[test]
    fn lock_durations_never_panic_nor_go_negative_for_valid_policies_and_any_count(
        policy in valid_lock_policy(),
        n in any::<i64>(),
    ) {
        let d = policy.lock_duration(n);
        prop_assert!((policy.duration_seconds..=policy.max_duration_seconds).contains(&d));
    }

    /// Even a policy that `validate` would refuse (read from an old row, say) gives a duration
    /// without overflowing.
    #[test]
    fn lock_durations_never_panic_for_any_policy(
        duration_seconds in any::<i64>(),
        growth_factor in any::<i64>(),
        max_duration_seconds in any::<i64>(),
        n in any::<i64>(),
    ) {
        let policy = LockPolicy { duration_seconds, growth_factor, max_duration_seconds, ..LockPolicy::default() };
        let _ = policy.lock_duration(n);
    }

    #[test]
    fn lock_policy_validate_accepts_exactly_the_documented_ranges(
        max_attempts in around(1, 100),
        duration_seconds in around(1, 86_400 * 30),
        growth_factor in around(1, 10),
        max_duration_offset in around(0, 86_400 * 365),
        window_seconds in around(1, 86_400),
        ip_max_failures in around(1, 100_000),
        smart in any::<bool>(),
        account_daily_ceiling in around(1, 100_000),
    ) {
        // The cap is drawn near the duration and near its own upper bound.
        let max_duration_seconds = if max_duration_offset.unsigned_abs() < 10 {
            duration_seconds.saturating_add(max_duration_offset)
        } else {
            max_duration_offset
        };
        let policy = LockPolicy {
            max_attempts,
            duration_seconds,
            growth_factor,
            max_duration_seconds,
            window_seconds,
            ip_max_failures,
            smart,
            account_daily_ceiling,
        };
        let documented = (1..=100).contains(&max_attempts)
            && (1..=86_400 * 30).contains(&duration_seconds)
            && (1..=10).contains(&growth_factor)
            && (duration_seconds..=86_400 * 365).contains(&max_duration_seconds)
            && (1..=86_400).contains(&window_seconds)
            && (1..=100_000).contains(&ip_max_failures)
            && (1..=100_000).contains(&account_daily_ceiling);
        prop_assert_eq!(policy.validate().is_ok(), documented, "{:?}", policy);
    }
}

/// Each position of a code is uniform over the alphabet (Pearson's chi-square per position; the
/// unit test in `authn::otp` checks all positions together, which would miss a biased position).
/// The bound is the 99.9999th percentile, so a correct generator fails about once in a million
/// runs per position and a biased one (a modulo bias of a byte over 36 symbols, say) every time.
#[test]
fn every_position_of_a_code_is_uniform() {
    let cases: [(OtpSettings, &str, f64); 2] = [
        (
            OtpSettings {
                length: 10,
                ..OtpSettings::default()
            },
            "0123456789",
            44.81, // 9 degrees of freedom
        ),
        (
            OtpSettings {
                numeric_only: false,
                length: 10,
                ..OtpSettings::default()
            },
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
            89.95, // 35
        ),
    ];
    for (settings, alphabet, critical) in cases {
        let mut counts = vec![vec![0u64; alphabet.len()]; settings.length];
        for _ in 0..20_000 {
            for (i, c) in settings.generate().expose().chars().enumerate() {
                counts[i][alphabet.find(c).unwrap()] += 1;
            }
        }
        for (i, position) in counts.iter().enumerate() {
            let chi2 = chi_square(position);
            assert!(chi2 < critical, "position {i}: chi-square {chi2:.1}");
        }
    }
    // Backup codes: 31 symbols, 30 degrees of freedom.
    let settings = BackupCodeSettings {
        count: 20,
        length: 10,
    };
    let mut counts = vec![vec![0u64; BACKUP_ALPHABET.len()]; settings.length];
    for _ in 0..1_000 {
        for code in settings.generate() {
            for (i, c) in backup::normalize(code.expose()).chars().enumerate() {
                counts[i][BACKUP_ALPHABET.find(c).unwrap()] += 1;
            }
        }
    }
    for (i, position) in counts.iter().enumerate() {
        let chi2 = chi_square(position);
        assert!(chi2 < 82.04, "backup position {i}: chi-square {chi2:.1}");
    }
}
