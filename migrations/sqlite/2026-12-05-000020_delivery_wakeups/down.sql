DROP INDEX deliveries_target_due;
