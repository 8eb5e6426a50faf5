DROP TABLE sms_receipts;
DROP INDEX sms_otps_event;
DROP INDEX sms_otps_message;
ALTER TABLE sms_otps DROP COLUMN delivery_detail;
ALTER TABLE sms_otps DROP COLUMN delivery;
ALTER TABLE sms_otps DROP COLUMN message_id;
ALTER TABLE sms_otps DROP COLUMN gateway;
