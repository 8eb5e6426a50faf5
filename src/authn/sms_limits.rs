//! The defence against SMS pumping (toll fraud through the texts a sign-in sends): where codes
//! may go (a numbering-plan check and a per-organization allow-list of countries and prefixes),
//! how many may go (sliding-window limits per user, number, client and organization), and the
//! organization's budget, whose breaker stops sending and raises an alert.
//!
//! The limits count the rows of `store::sms_sends` since a moment: a window slides with the
//! clock, and no count starts again when a block ends. The check and the new row are written
//! in the transaction that stores the code, under the organization's send lock, so parallel
//! requests are counted one after another and a burst gets no extra text.

use serde::{Deserialize, Serialize};

use crate::domain::PhoneNumber;
use crate::events::SmsAlert;
use crate::store::sms_sends::{Of, Over, SmsSend};
use crate::store::{DbConn, StoreError, throttle};

pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;

/// How many codes may be sent, over sliding windows of an hour and a day. The hourly limits
/// per user and per number default to the SMS OTP settings' `resend_attempts + 1` (the first
/// code of a sign-in and its resends), as the guide promises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SendLimits {
    /// Codes to one user in any hour (default: `resend_attempts + 1`).
    pub user_per_hour: Option<i64>,
    pub user_per_day: i64,
    /// Codes to one number in any hour (default: `resend_attempts + 1`).
    pub number_per_hour: Option<i64>,
    pub number_per_day: i64,
    /// Codes asked for from one client address (an IPv6 address by its /64) in any hour.
    pub ip_per_hour: i64,
    pub ip_per_day: i64,
    /// The organization's SMS budget: past it the breaker trips, no code is sent until the
    /// window has room for a tenth of it again, SMS OTP steps point to the user's backup codes,
    /// and `SmsBudgetBreakerTrippedEvent` is published once per trip.
    pub organization_per_hour: i64,
    pub organization_per_day: i64,
    /// Codes to one country in an hour that publish `SmsCountryVelocityEvent` (at most once an
    /// hour per country); 0 turns the alert off.
    pub country_alert_per_hour: i64,
}

impl Default for SendLimits {
    fn default() -> Self {
        Self {
            user_per_hour: None,
            user_per_day: 24,
            number_per_hour: None,
            number_per_day: 24,
            ip_per_hour: 30,
            ip_per_day: 200,
            organization_per_hour: 500,
            organization_per_day: 5000,
            country_alert_per_hour: 100,
        }
    }
}

/// A line type codes may be sent to. Premium-rate and shared-cost numbers are never allowed,
/// nor numbers the numbering plan does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineType {
    Mobile,
    /// Where the plan cannot tell them apart (the United States and Canada, for one).
    FixedLineOrMobile,
    FixedLine,
    Voip,
    PersonalNumber,
    Pager,
    Uan,
    TollFree,
}

impl LineType {
    fn of(t: phonenumber::Type) -> Option<Self> {
        use phonenumber::Type as T;
        Some(match t {
            T::Mobile => Self::Mobile,
            T::FixedLineOrMobile => Self::FixedLineOrMobile,
            T::FixedLine => Self::FixedLine,
            T::Voip => Self::Voip,
            T::PersonalNumber => Self::PersonalNumber,
            T::Pager => Self::Pager,
            T::Uan => Self::Uan,
            T::TollFree => Self::TollFree,
            _ => return None,
        })
    }
}

pub fn default_line_types() -> Vec<LineType> {
    vec![LineType::Mobile, LineType::FixedLineOrMobile]
}

impl SendLimits {
    /// Checks the bounds against the SMS OTP settings' `resend_attempts`; the message names the
    /// field.
    pub fn validate(&self, resend_attempts: i64) -> Result<(), String> {
        let range = |name: &str, v: i64, lo: i64, hi: i64| {
            super::in_range(&format!("limits.{name}"), v, lo, hi)
        };
        let user_hour = self.user_per_hour.unwrap_or(resend_attempts + 1);
        let number_hour = self.number_per_hour.unwrap_or(resend_attempts + 1);
        range("user_per_hour", user_hour, 1, 1000)?;
        range("user_per_day", self.user_per_day, user_hour, 10_000)?;
        range("number_per_hour", number_hour, 1, 1000)?;
        range("number_per_day", self.number_per_day, number_hour, 10_000)?;
        range("ip_per_hour", self.ip_per_hour, 1, 1_000_000)?;
        range("ip_per_day", self.ip_per_day, self.ip_per_hour, 10_000_000)?;
        range(
            "organization_per_hour",
            self.organization_per_hour,
            1,
            10_000_000,
        )?;
        range(
            "organization_per_day",
            self.organization_per_day,
            self.organization_per_hour,
            100_000_000,
        )?;
        range(
            "country_alert_per_hour",
            self.country_alert_per_hour,
            0,
            10_000_000,
        )
    }
}

/// Checks an allow-list entry: an ISO 3166 country code the numbering plan knows (`GB`), or a
/// `+` and 1-8 digits (`+44`, `+1415`).
pub fn validate_destination(entry: &str) -> Result<(), String> {
    let prefix = entry
        .strip_prefix('+')
        .is_some_and(|d| (1..=8).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()));
    let country = entry.len() == 2
        && entry.bytes().all(|b| b.is_ascii_uppercase())
        && entry.parse::<phonenumber::country::Id>().is_ok();
    if prefix || country {
        Ok(())
    } else {
        Err(format!(
            "allowed_countries: '{entry}' is neither a country code (GB) nor a prefix (+44)"
        ))
    }
}

/// A number codes may be sent to: normalized to E.164, with its country.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub number: PhoneNumber,
    /// ISO 3166 code, or the calling code (`+882`) of a number without a country.
    pub region: String,
}

/// Why a number cannot receive codes. Stable codes for the JSON API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberRefusal {
    /// Not a number of the international numbering plan.
    Invalid,
    /// A premium-rate or shared-cost number: the sender pays the receiver.
    PremiumRate,
    /// A line type the organization does not send to (a landline, by default).
    LineType,
    /// A country or prefix outside the organization's allow-list.
    Country,
}

impl NumberRefusal {
    /// The sentence a user reads, in the page's language.
    pub fn message(self) -> String {
        let id = match self {
            Self::Invalid => "engine-number-invalid",
            Self::PremiumRate => "engine-number-premium-rate",
            Self::LineType => "engine-number-line-type",
            Self::Country => "engine-number-country",
        };
        crate::i18n::text(id, &[])
    }
}

/// Parses `value` with the numbering plan: a valid number of an allowed line type, in the
/// allow-list when there is one (`allowed` entries as [`validate_destination`] takes them).
pub fn destination(
    value: &str,
    allowed: &[String],
    line_types: &[LineType],
) -> Result<Destination, NumberRefusal> {
    use phonenumber::Type as T;
    let parsed = phonenumber::parse(None, value).map_err(|_| NumberRefusal::Invalid)?;
    if parsed.extension().is_some() || !parsed.is_valid() {
        return Err(NumberRefusal::Invalid);
    }
    let e164 = parsed.format().mode(phonenumber::Mode::E164).to_string();
    let number = PhoneNumber::parse(&e164).map_err(|_| NumberRefusal::Invalid)?;
    let kind = parsed.number_type(&phonenumber::metadata::DATABASE);
    if matches!(kind, T::PremiumRate | T::SharedCost) {
        return Err(NumberRefusal::PremiumRate);
    }
    if !LineType::of(kind).is_some_and(|t| line_types.contains(&t)) {
        return Err(NumberRefusal::LineType);
    }
    let region = parsed.country().id().map_or_else(
        || format!("+{}", parsed.code().value()),
        |id| id.as_ref().to_string(),
    );
    let admitted = allowed.is_empty()
        || allowed.iter().any(|a| match a.strip_prefix('+') {
            Some(digits) => e164[1..].starts_with(digits),
            None => *a == region,
        });
    if !admitted {
        return Err(NumberRefusal::Country);
    }
    Ok(Destination { number, region })
}

/// A number as the numbering plan has it, in E.164: valid, and not premium-rate or shared-cost
/// (whatever its country and line type; those are checked when a code is sent). For numbers an
/// administrator or an upstream provider gives.
pub fn normalize(value: &str) -> Result<PhoneNumber, NumberRefusal> {
    const ANY: [LineType; 8] = [
        LineType::Mobile,
        LineType::FixedLineOrMobile,
        LineType::FixedLine,
        LineType::Voip,
        LineType::PersonalNumber,
        LineType::Pager,
        LineType::Uan,
        LineType::TollFree,
    ];
    destination(value, &[], &ANY).map(|d| d.number)
}

/// An address as one client: IPv4 whole, IPv6 by its /64 (one subscriber's, usually).
pub fn client_block(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Ok(ip) => ip.to_string(),
        Err(_) => ip.to_string(),
    }
}

/// Why a code was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// A limit on the user, the number or the client: no code until then.
    Blocked(i64),
    /// The organization's budget: its breaker holds until then.
    Paused(i64),
}

/// One send about to be made, and what it counts against.
#[derive(Debug, Clone)]
pub struct Send<'a> {
    pub organization_id: i64,
    pub user_id: &'a str,
    pub to: &'a Destination,
    /// The client's address as given (empty when unknown: then no per-client limit applies).
    pub client_ip: &'a str,
}

/// The organization's breaker key (its hold is the lock's end).
fn breaker_key(organization_id: i64) -> String {
    format!("sms-breaker:{organization_id}")
}

fn country_alert_key(organization_id: i64, region: &str) -> String {
    format!("sms-country-alert:{organization_id}:{region}")
}

/// When a window of `window` seconds holding `limit` or more of the sends `over` a scope has room
/// again at the earliest: when its `limit`-th newest send leaves it. `None` while it has room.
fn full_until(
    conn: &mut DbConn,
    organization_id: i64,
    over: Over<'_>,
    (limit, window): (i64, i64),
    t: i64,
) -> Result<Option<i64>, StoreError> {
    let since = t - window + 1;
    let counted = SmsSend::count(conn, organization_id, over, since)?;
    room_after(conn, organization_id, over, (limit, window), t, counted)
}

/// [`full_until`] for a window already counted: `counted` sends `over` the scope in it.
fn room_after(
    conn: &mut DbConn,
    organization_id: i64,
    over: Over<'_>,
    (limit, window): (i64, i64),
    t: i64,
    counted: i64,
) -> Result<Option<i64>, StoreError> {
    if counted < limit {
        return Ok(None);
    }
    let since = t - window + 1;
    Ok(SmsSend::nth_newest(conn, organization_id, over, since, limit - 1)?.map(|s| s + window))
}

/// Checks `send` against every limit and, when it may go, records it; returns the verdict and
/// the alerts to publish with it (whether or not it goes: a trip of the breaker alerts). Call
/// inside the transaction that stores the code (see the module's doc) and commit it either way;
/// it takes the organization's send lock first.
pub fn check_and_record(
    conn: &mut DbConn,
    settings: &crate::authn::otp::OtpSettings,
    send: &Send<'_>,
    t: i64,
) -> Result<(Result<(), Held>, Vec<SmsAlert>), StoreError> {
    let limits = &settings.limits;
    let org = send.organization_id;
    SmsSend::lock_organization(conn, org)?;
    // The breaker: while it holds nothing is sent; at the budget it trips (and alerts once).
    let breaker = breaker_key(org);
    if let Some(until) = throttle::locked_until(conn, &breaker, t)? {
        return Ok((Err(Held::Paused(until)), Vec::new()));
    }
    let per_hour = settings.resend_attempts + 1;
    let ip = client_block(send.client_ip);
    let of = Of {
        user: send.user_id,
        number: send.to.number.as_str(),
        ip: &ip,
    };
    // Every window below, counted at once (under the send lock, so nothing is added meanwhile).
    let counts = SmsSend::counts(conn, org, &of, t - HOUR + 1, t - DAY + 1)?;
    for (window, limit, name, counted) in [
        (
            HOUR,
            limits.organization_per_hour,
            "hour",
            counts.organization_hour,
        ),
        (
            DAY,
            limits.organization_per_day,
            "day",
            counts.organization_day,
        ),
    ] {
        // Sending resumes once the window has room for a tenth of the budget, so a steady
        // pump trips the breaker (and alerts) once per tenth, not once per freed slot.
        let resume = (limit - limit / 10).max(1).min(limit);
        if counted >= limit {
            let until =
                full_until(conn, org, Over::Organization, (resume, window), t)?.unwrap_or(t + 1);
            throttle::count_attempt(conn, &breaker, window, t)?;
            throttle::block(conn, &breaker, until)?;
            let alert = SmsAlert::BreakerTripped {
                window: name,
                limit,
                until,
            };
            return Ok((Err(Held::Paused(until)), vec![alert]));
        }
    }
    let mut scopes = vec![
        (
            Over::User(send.user_id),
            limits.user_per_hour.unwrap_or(per_hour),
            limits.user_per_day,
            (counts.user_hour, counts.user_day),
        ),
        (
            Over::Number(send.to.number.as_str()),
            limits.number_per_hour.unwrap_or(per_hour),
            limits.number_per_day,
            (counts.number_hour, counts.number_day),
        ),
    ];
    if !ip.is_empty() {
        scopes.push((
            Over::Ip(&ip),
            limits.ip_per_hour,
            limits.ip_per_day,
            (counts.ip_hour, counts.ip_day),
        ));
    }
    let mut blocked = None;
    for (over, hourly, daily, (in_hour, in_day)) in scopes {
        for (limit, window, counted) in [(hourly, HOUR, in_hour), (daily, DAY, in_day)] {
            if let Some(until) = room_after(conn, org, over, (limit, window), t, counted)? {
                blocked = Some(blocked.map_or(until, |b: i64| b.max(until)));
            }
        }
    }
    if let Some(until) = blocked {
        // The guide's block after the resends is the least wait.
        let until = until.max(t + settings.resend_block_seconds);
        return Ok((Err(Held::Blocked(until)), Vec::new()));
    }
    SmsSend::insert(
        conn,
        &SmsSend {
            id: uuid::Uuid::new_v4().to_string(),
            organization_id: org,
            user_id: send.user_id.to_string(),
            phone_number: send.to.number.as_str().to_string(),
            client_ip: ip,
            region: send.to.region.clone(),
            created_at: t,
        },
    )?;
    let mut alerts = Vec::new();
    let threshold = limits.country_alert_per_hour;
    if threshold > 0 {
        let region = send.to.region.as_str();
        let sent = SmsSend::count(conn, org, Over::Region(region), t - HOUR + 1)?;
        let key = country_alert_key(org, region);
        if sent >= threshold && throttle::locked_until(conn, &key, t)?.is_none() {
            throttle::count_attempt(conn, &key, HOUR, t)?;
            throttle::block(conn, &key, t + HOUR)?;
            alerts.push(SmsAlert::CountryVelocity {
                region: region.to_string(),
                sent,
                limit: threshold,
            });
        }
    }
    Ok((Ok(()), alerts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, allowed: &[&str]) -> Result<Destination, NumberRefusal> {
        let allowed: Vec<String> = allowed.iter().map(|a| a.to_string()).collect();
        destination(value, &allowed, &default_line_types())
    }

    #[test]
    fn numbers_are_checked_against_the_numbering_plan_and_normalized() {
        let gb = check("+44 (0)7400 900123", &[]).unwrap();
        assert_eq!(
            (gb.number.as_str(), gb.region.as_str()),
            ("+447400900123", "GB")
        );
        assert_eq!(check("+1 415 555 0100", &[]).unwrap().region, "US");
        for (bad, why) in [
            ("+447700900123", NumberRefusal::Invalid), // Ofcom's drama range: no line
            ("+15555550100", NumberRefusal::Invalid),  // no area code 555
            ("07400900123", NumberRefusal::Invalid),   // no country code
            ("+44 909 879 0000", NumberRefusal::PremiumRate),
            ("+44 20 7946 0000", NumberRefusal::LineType), // a landline
            ("+1 800 555 0100", NumberRefusal::LineType),  // toll-free
        ] {
            assert_eq!(check(bad, &[]), Err(why), "{bad}");
        }
        // Landlines and toll-free numbers only when the organization names them; premium
        // rate never.
        assert!(normalize("+44 20 7946 0000").is_ok());
        assert_eq!(
            normalize("+44 909 879 0000"),
            Err(NumberRefusal::PremiumRate)
        );
    }

    #[test]
    fn the_allow_list_takes_countries_and_prefixes() {
        assert!(check("+14155550100", &["US"]).is_ok());
        assert!(check("+14155550100", &["+1415"]).is_ok());
        assert_eq!(
            check("+12125550100", &["+1415", "GB"]),
            Err(NumberRefusal::Country)
        );
        assert_eq!(check("+447400900123", &["US"]), Err(NumberRefusal::Country));
        // Jamaica shares +1 with the United States: by country it is told apart.
        assert_eq!(
            check("+1 876 210 1234", &["US"]),
            Err(NumberRefusal::Country)
        );
        for ok in ["GB", "+44", "+1415"] {
            assert!(validate_destination(ok).is_ok(), "{ok}");
        }
        for bad in ["gb", "XX", "+", "+44a", "44", "+123456789"] {
            assert!(
                validate_destination(bad)
                    .unwrap_err()
                    .starts_with("allowed_countries"),
                "{bad}"
            );
        }
    }

    #[test]
    fn limits_default_to_the_guides_resends_and_are_validated_by_name() {
        let limits = SendLimits::default();
        assert!(limits.validate(5).is_ok());
        let bad = SendLimits {
            user_per_day: 3,
            ..SendLimits::default()
        };
        // The hourly default (resend_attempts + 1 = 6) is more than the day allows.
        assert!(
            bad.validate(5)
                .unwrap_err()
                .starts_with("limits.user_per_day")
        );
        let bad = SendLimits {
            organization_per_day: 10,
            ..SendLimits::default()
        };
        assert!(
            bad.validate(5)
                .unwrap_err()
                .starts_with("limits.organization_per_day")
        );
        assert_eq!(client_block("2001:db8:1:2:3::9"), "2001:db8:1:2::/64");
        assert_eq!(client_block("::ffff:192.0.2.1"), "192.0.2.1");
    }
}
