DROP TRIGGER deliveries_requeued ON deliveries;
DROP TRIGGER deliveries_queued ON deliveries;
DROP FUNCTION sesame_delivery_due();
DROP INDEX deliveries_target_due;
