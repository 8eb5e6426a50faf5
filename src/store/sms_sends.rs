//! The ledger of SMS OTPs sent. The send limits count its rows since a moment, so every window
//! is a true sliding window (no count restarts when a block ends), and the check and the new row
//! are written in one transaction that holds the organization's send lock: a burst of parallel
//! requests is counted one after the other and gets no extra text.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::schema::sms_sends;
use super::{DbConn, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = sms_sends)]
pub struct SmsSend {
    pub id: String,
    pub organization_id: i64,
    pub user_id: String,
    /// E.164.
    pub phone_number: String,
    /// The client's address as one client (an IPv6 address by its /64); empty when unknown.
    pub client_ip: String,
    /// The number's country (ISO 3166 code), or its calling code (`+882`) when it has none.
    pub region: String,
    pub created_at: i64,
}

/// What a count is over, within one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over<'a> {
    User(&'a str),
    Number(&'a str),
    Ip(&'a str),
    Region(&'a str),
    Organization,
}

/// Whose sends [`SmsSend::counts`] counts besides the organization's.
#[derive(Debug, Clone, Copy)]
pub struct Of<'a> {
    pub user: &'a str,
    pub number: &'a str,
    /// The client's address as one client (empty: unknown, and its counts mean nothing).
    pub ip: &'a str,
}

/// The sends of an organization in the last hour and day, by scope (see [`SmsSend::counts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub organization_hour: i64,
    pub organization_day: i64,
    pub user_hour: i64,
    pub user_day: i64,
    pub number_hour: i64,
    pub number_day: i64,
    pub ip_hour: i64,
    pub ip_day: i64,
}

/// A namespace for the organization's advisory lock on PostgreSQL ("sms" in the high bytes).
const LOCK_SPACE: i64 = 0x736d_7300_0000_0000;

impl SmsSend {
    /// Serializes the organization's sends until the transaction ends: on PostgreSQL a
    /// transaction-scoped advisory lock; SQLite's `BEGIN IMMEDIATE` already lets one writer in.
    /// Call first inside the transaction that checks the limits and records the send.
    pub fn lock_organization(conn: &mut DbConn, organization_id: i64) -> Result<(), StoreError> {
        if let DbConn::Postgres(c) = conn {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                .bind::<BigInt, _>(LOCK_SPACE ^ organization_id)
                .execute(c)?;
        }
        Ok(())
    }

    pub fn insert(conn: &mut DbConn, send: &Self) -> Result<(), StoreError> {
        diesel::insert_into(sms_sends::table)
            .values(send)
            .execute(conn)?;
        Ok(())
    }

    /// How many sends of the organization `over` the scope were made at or after `since`.
    pub fn count(
        conn: &mut DbConn,
        organization_id: i64,
        over: Over<'_>,
        since: i64,
    ) -> Result<i64, StoreError> {
        let base = sms_sends::table
            .filter(sms_sends::organization_id.eq(organization_id))
            .filter(sms_sends::created_at.ge(since))
            .count();
        Ok(match over {
            Over::User(u) => base.filter(sms_sends::user_id.eq(u)).get_result(conn)?,
            Over::Number(n) => base
                .filter(sms_sends::phone_number.eq(n))
                .get_result(conn)?,
            Over::Ip(ip) => base.filter(sms_sends::client_ip.eq(ip)).get_result(conn)?,
            Over::Region(r) => base.filter(sms_sends::region.eq(r)).get_result(conn)?,
            Over::Organization => base.get_result(conn)?,
        })
    }

    /// The organization's sends in the last hour and day (`hour_since`, `day_since`): in all,
    /// and of the user, the number and the client address — every count a send is checked
    /// against, in one statement instead of eight round trips. Each count is a subquery of its
    /// own, so each is planned on its own index as the separate counts were. Built with the
    /// query builder rather than written as SQL text so that the connection prepares it once
    /// and keeps it: as text, PostgreSQL parsed and planned the eight subqueries at every send
    /// (about 0.45 ms of its time, by `EXPLAIN (ANALYZE, SUMMARY)` on a warm connection), and
    /// SQLite compiled it anew.
    pub fn counts(
        conn: &mut DbConn,
        organization_id: i64,
        of: &Of<'_>,
        hour_since: i64,
        day_since: i64,
    ) -> Result<Counts, StoreError> {
        let since = |t: i64| {
            sms_sends::table
                .filter(sms_sends::organization_id.eq(organization_id))
                .filter(sms_sends::created_at.ge(t))
        };
        let (hour, day) = (|| since(hour_since), || since(day_since));
        let counted: [Option<i64>; 8] = diesel::select((
            hour().count().single_value(),
            day().count().single_value(),
            hour()
                .filter(sms_sends::user_id.eq(of.user))
                .count()
                .single_value(),
            day()
                .filter(sms_sends::user_id.eq(of.user))
                .count()
                .single_value(),
            hour()
                .filter(sms_sends::phone_number.eq(of.number))
                .count()
                .single_value(),
            day()
                .filter(sms_sends::phone_number.eq(of.number))
                .count()
                .single_value(),
            hour()
                .filter(sms_sends::client_ip.eq(of.ip))
                .count()
                .single_value(),
            day()
                .filter(sms_sends::client_ip.eq(of.ip))
                .count()
                .single_value(),
        ))
        .get_result::<(
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        )>(conn)
        .map(|(a, b, c, d, e, f, g, h)| [a, b, c, d, e, f, g, h])?;
        // A count is never NULL; an absent one would be no sends.
        let [
            organization_hour,
            organization_day,
            user_hour,
            user_day,
            number_hour,
            number_day,
            ip_hour,
            ip_day,
        ] = counted.map(|n| n.unwrap_or(0));
        Ok(Counts {
            organization_hour,
            organization_day,
            user_hour,
            user_day,
            number_hour,
            number_day,
            ip_hour,
            ip_day,
        })
    }

    /// The time of the `n`-th newest send (0: the newest) `over` the scope at or after `since`.
    pub fn nth_newest(
        conn: &mut DbConn,
        organization_id: i64,
        over: Over<'_>,
        since: i64,
        n: i64,
    ) -> Result<Option<i64>, StoreError> {
        let base = sms_sends::table
            .filter(sms_sends::organization_id.eq(organization_id))
            .filter(sms_sends::created_at.ge(since))
            .order(sms_sends::created_at.desc())
            .select(sms_sends::created_at)
            .offset(n.max(0));
        Ok(match over {
            Over::User(u) => base.filter(sms_sends::user_id.eq(u)).first(conn),
            Over::Number(number) => base.filter(sms_sends::phone_number.eq(number)).first(conn),
            Over::Ip(ip) => base.filter(sms_sends::client_ip.eq(ip)).first(conn),
            Over::Region(r) => base.filter(sms_sends::region.eq(r)).first(conn),
            Over::Organization => base.first(conn),
        }
        .optional()?)
    }

    /// Deletes sends older than the longest window (a day) and an hour.
    pub fn purge(conn: &mut DbConn) -> Result<usize, StoreError> {
        let before = super::now() - 86_400 - 3600;
        Ok(
            diesel::delete(sms_sends::table.filter(sms_sends::created_at.lt(before)))
                .execute(conn)?,
        )
    }
}
