ALTER TABLE sms_otps DROP COLUMN event_jti;
DROP TABLE deliveries;
