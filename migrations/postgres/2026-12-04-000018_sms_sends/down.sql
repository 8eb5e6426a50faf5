DROP TABLE sms_sends;
