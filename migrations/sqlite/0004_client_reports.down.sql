DROP TABLE queued_disconnects;
DROP TABLE broker_samples;
DROP TABLE reported_clients;
DROP TABLE client_reports;
