-- The merchant's word on each recommendation, and every price the app wrote to Shopify.

CREATE TABLE recommendation_decisions (
    run_id       text NOT NULL,
    variant_id   bigint NOT NULL,
    decision     text NOT NULL CHECK (decision IN ('approved', 'rejected')),
    decided_by   text NOT NULL,
    decided_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, variant_id),
    FOREIGN KEY (run_id, variant_id) REFERENCES recommendations (run_id, variant_id) ON DELETE CASCADE
);

-- One batch per apply or revert: what was asked, by whom, and how it ended.
CREATE TABLE price_change_batches (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id          bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    action           text NOT NULL CHECK (action IN ('apply', 'revert')),
    run_id           text,                 -- the recommendations' run (apply)
    reverts_batch_id bigint REFERENCES price_change_batches(id),
    requested_by     text NOT NULL,
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    status           text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'partial', 'failed')),
    reverted_by_batch_id bigint REFERENCES price_change_batches(id)
);
CREATE INDEX price_change_batches_shop ON price_change_batches (shop_id, started_at DESC);
-- A batch is reverted at most once.
CREATE UNIQUE INDEX price_change_batches_one_revert ON price_change_batches (reverts_batch_id)
    WHERE reverts_batch_id IS NOT NULL AND status <> 'failed';

-- The audit log: every change the app made (or tried to make) to a price in Shopify.
CREATE TABLE price_changes (
    batch_id            bigint NOT NULL REFERENCES price_change_batches(id) ON DELETE CASCADE,
    shop_id             bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    -- Kept when the variant is deleted later: the log outlives the catalogue.
    variant_id          bigint REFERENCES variants(id) ON DELETE SET NULL,
    variant_shopify_id  text NOT NULL,
    product_shopify_id  text NOT NULL,
    run_id              text,
    old_price           numeric(12, 2),
    new_price           numeric(12, 2) NOT NULL,  -- what was asked, even when Shopify refused it
    result              text NOT NULL CHECK (result IN ('applied', 'failed', 'skipped')),
    detail              text,
    applied_by          text NOT NULL,
    how                 text NOT NULL,    -- cli, http, pipeline
    applied_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (batch_id, variant_shopify_id)
);
CREATE INDEX price_changes_variant ON price_changes (shop_id, variant_shopify_id, applied_at DESC);
