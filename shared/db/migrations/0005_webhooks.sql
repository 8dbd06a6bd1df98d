-- Webhooks that lose nothing: each verified delivery is kept with what its headers said and
-- how its processing went, until it is processed (or for an operator, once retries run out).

ALTER TABLE webhook_events
    ADD COLUMN api_version      text,
    ADD COLUMN triggered_at     timestamptz,   -- X-Shopify-Triggered-At: when Shopify raised the event
    -- Which client secret signed it: 'previous' means Shopify still signs with the old secret mid-rotation.
    ADD COLUMN verified_with    text NOT NULL DEFAULT 'current' CHECK (verified_with IN ('current', 'previous')),
    ADD COLUMN attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN next_attempt_at  timestamptz,   -- a failed event is retried from then on
    ADD COLUMN last_error       text,
    ADD COLUMN outcome          text;          -- what processing did, in a few words
-- The sweep's question: what is waiting to be (re)processed, oldest first.
CREATE INDEX webhook_events_waiting ON webhook_events (next_attempt_at NULLS FIRST, received_at)
    WHERE status <> 'processed';
CREATE INDEX webhook_events_shop ON webhook_events (shop_domain, status);
-- One event reaches us once per subscription (toml and API ones): deduplicated on the event id.
CREATE INDEX webhook_events_event ON webhook_events (shop_domain, event_id) WHERE event_id IS NOT NULL;
-- A deleted product stays deleted when an older products/update arrives after its delete.
CREATE INDEX webhook_events_product_deletions ON webhook_events (shop_domain, (payload ->> 'id'))
    WHERE topic = 'products/delete';

-- Webhooks arrive out of order: a change is applied only when it is newer than what is stored.
ALTER TABLE inventory_levels ADD COLUMN shopify_updated_at timestamptz;
ALTER TABLE order_lines ADD COLUMN order_updated_at timestamptz;

-- bulk_operations/finish, kept for the bulk sync to poll (consumed_at IS NULL: not acted on yet).
CREATE TABLE bulk_operation_finishes (
    shop_id         bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    operation_id    text NOT NULL,              -- gid://shopify/BulkOperation/...
    status          text NOT NULL,              -- BulkOperationStatus: COMPLETED, FAILED, CANCELED, EXPIRED
    operation_type  text,                       -- QUERY or MUTATION
    error_code      text,
    url             text,                       -- not in the payload: node(id:) { ... on BulkOperation { url } } has it
    created_at      timestamptz,
    completed_at    timestamptz,
    received_at     timestamptz NOT NULL DEFAULT now(),
    consumed_at     timestamptz,
    PRIMARY KEY (shop_id, operation_id)
);
CREATE INDEX bulk_operation_finishes_unconsumed ON bulk_operation_finishes (shop_id, received_at)
    WHERE consumed_at IS NULL;

-- The mandatory customer requests and how they were answered. No customer identifier is kept:
-- the request id and the counts are enough to show the merchant what was done.
CREATE TABLE compliance_requests (
    webhook_id    text PRIMARY KEY,
    shop_domain   text NOT NULL,
    topic         text NOT NULL CHECK (topic IN ('customers/data_request', 'customers/redact')),
    request_id    text,
    orders_count  integer NOT NULL DEFAULT 0,
    report        jsonb NOT NULL,
    handled_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX compliance_requests_shop ON compliance_requests (shop_domain, handled_at);
