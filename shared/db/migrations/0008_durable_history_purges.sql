-- Durable instances whose history must be purged: queued by shop/redact in the transaction that
-- deletes the shop's rows (the pipeline_runs rows that name the instances go in it), purged by a
-- function that holds a Durable client (the webhook_sweep timer), then deleted. No shop column:
-- once purged, nothing here refers to the shop.
CREATE TABLE durable_history_purges (
    instance_id       text PRIMARY KEY,
    -- Sub-orchestrations are named `<instance id>:<step>`: purge those too.
    include_children  boolean NOT NULL DEFAULT false,
    requested_at      timestamptz NOT NULL,
    attempts          integer NOT NULL DEFAULT 0,
    last_error        text
);
