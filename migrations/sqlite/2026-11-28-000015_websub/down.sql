DROP TABLE subscriptions;
ALTER TABLE applications DROP COLUMN websub_subscribe;
