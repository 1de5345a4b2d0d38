-- The optional settings of a broker's on-publish hook (filters, timeout,
-- on_failure, mode) as JSON; '' for the defaults.
ALTER TABLE brokers ADD COLUMN on_publish_options TEXT NOT NULL DEFAULT '';
