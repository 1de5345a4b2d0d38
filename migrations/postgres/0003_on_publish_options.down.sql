ALTER TABLE brokers DROP COLUMN on_publish_options;
