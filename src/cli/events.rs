//! `sesame events`: the outbox listed, an event delivered again.

use super::*;

#[derive(Debug, Subcommand)]
pub(super) enum EventsCommand {
    /// List the organization's newest events, message bodies (which may hold codes) redacted.
    List {
        /// The organization's slug.
        #[arg(long)]
        org: String,
        /// How many events, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Deliver an event again to every target (unless it has expired); the worker of a running
    /// node picks it up within a second.
    Redeliver {
        /// The organization's slug.
        #[arg(long)]
        org: String,
        /// The event's id (`jti`), as `events list` shows it.
        #[arg(long)]
        jti: String,
    },
}

pub(super) fn events_command(command: EventsCommand, settings: &Settings) -> Result<(), Failure> {
    match command {
        EventsCommand::List { org, limit } => list(settings, &org, limit),
        EventsCommand::Redeliver { org, jti } => redeliver(settings, &org, &jti),
    }
}

fn list(settings: &Settings, org: &str, limit: i64) -> Result<(), Failure> {
    let kek = kek(settings)?;
    let (mut conn, org) = org_conn(settings, org)?;
    keys::verify_kek(&mut conn, &kek).map_err(|e| Failure(e.to_string(), 2))?;
    for event in crate::store::events::OutboxEvent::list(&mut conn, org.id, limit)? {
        let payload = crate::events::open_payload(&kek, &event)
            .map(|p| crate::events::redacted(&p).to_string())
            .unwrap_or_else(|e| format!("(unreadable: {e})"));
        let delivered = event
            .delivered_at
            .map_or("pending".to_string(), crate::store::format_utc);
        println!(
            "{} {} {} {delivered} {payload}",
            crate::store::format_utc(event.created_at),
            event.event_type,
            event.jti
        );
        for d in crate::store::deliveries::Delivery::of_event(&mut conn, &event.jti)? {
            println!(
                "    delivery {} to {}: {} after {} attempt(s){}",
                d.id,
                d.target,
                d.state,
                d.attempts,
                d.last_error
                    .map(|e| format!(", last error: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    // Each target at a glance: a sink or a subscriber that is behind shows here.
    let targets = crate::store::deliveries::by_target(&mut conn, org.id)?;
    if !targets.is_empty() {
        println!("by target (the outbox keeps delivered events a week):");
    }
    for target in targets.chunk_by(|a, b| a.target == b.target) {
        let states: Vec<String> = target
            .iter()
            .map(|t| match t.state.as_str() {
                crate::store::deliveries::PENDING => format!(
                    "{} pending (the oldest since {})",
                    t.count,
                    crate::store::format_utc(t.oldest)
                ),
                state => format!("{} {state}", t.count),
            })
            .collect();
        println!("    {}: {}", target[0].target, states.join(", "));
    }
    Ok(())
}

fn redeliver(settings: &Settings, org: &str, jti: &str) -> Result<(), Failure> {
    let (mut conn, org) = org_conn(settings, org)?;
    let origin = crate::events::OwnedOrigin::new(settings, org);
    let actor = crate::admin::Actor::operator(crate::admin::Via::Cli);
    let done = crate::admin::events::redeliver(
        &mut conn,
        origin.origin(),
        &actor,
        jti,
        settings.delivery_max_age_seconds,
    )
    .map_err(|e| match e {
        crate::admin::AdminError::NotFound(_) => Failure(
            format!("no deliveries of event {jti} in '{}'", origin.org.slug),
            1,
        ),
        other => Failure(other.to_string(), 1),
    })?;
    for (d, scheduled) in done {
        if scheduled {
            println!("delivery {} to {}: scheduled again", d.id, d.target);
        } else {
            println!(
                "delivery {} to {}: not redelivered, its code is no longer live (expired, used or replaced: a dead code is never sent)",
                d.id, d.target
            );
        }
    }
    Ok(())
}
