-- Webhook deliveries already received, so a re-sent one builds nothing.
CREATE TABLE webhook_deliveries (
    config TEXT NOT NULL,
    provider TEXT NOT NULL,
    delivery TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (config, provider, delivery)
);
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at);
