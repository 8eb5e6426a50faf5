-- The delivery worker claims per target (a webhook subscription, an organization's SMS channel),
-- oldest first: this index answers that without reading other targets' backlog.
CREATE INDEX deliveries_target_due ON deliveries (target, organization_id, state, next_attempt_at);

-- Every node LISTENs on sesame_deliveries: a delivery that becomes due (queued by any node or by
-- the CLI, or made pending again by a redelivery) wakes them at commit, with "{organization
-- id}:{target}" as the payload. PostgreSQL sends a notification only when the transaction
-- commits, and one per distinct payload per transaction. A delivery a request sends itself
-- (attempts = 1, claimed) wakes nobody: its lease is the worker's business only if it lapses.
CREATE FUNCTION sesame_delivery_due() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sesame_deliveries', NEW.organization_id::text || ':' || NEW.target);
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_queued AFTER INSERT ON deliveries FOR EACH ROW
    WHEN (NEW.state = 'pending' AND NEW.attempts = 0)
    EXECUTE FUNCTION sesame_delivery_due();

CREATE TRIGGER deliveries_requeued AFTER UPDATE OF state ON deliveries FOR EACH ROW
    WHEN (NEW.state = 'pending' AND OLD.state <> 'pending')
    EXECUTE FUNCTION sesame_delivery_due();
