-- Shopify keeps no price history, and order lines show a price only when something sells:
-- the app records each variant's price as it finds it on every run, so that elasticities
-- can be learnt from when prices really changed. One row per change (a run that finds the
-- same price adds nothing).
CREATE TABLE variant_price_history (
    shop_id       bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    variant_id    bigint NOT NULL REFERENCES variants(id) ON DELETE CASCADE,
    effective_at  timestamptz NOT NULL,
    price         numeric(12, 2) NOT NULL CHECK (price >= 0),
    PRIMARY KEY (variant_id, effective_at)
);
CREATE INDEX variant_price_history_shop ON variant_price_history (shop_id, effective_at);
