-- A shop's accounting system, reached through Apideck Unify, and what the last read of its items found.
-- The consumer id is Apideck's name for the merchant in its Vault: an identifier, not a secret
-- (the app's API key is the secret, and it lives in Key Vault).
CREATE TABLE accounting_connections (
    shop_id          bigint PRIMARY KEY REFERENCES shops(id) ON DELETE CASCADE,
    service_id       text NOT NULL CHECK (service_id IN ('quickbooks', 'xero')),
    consumer_id      text NOT NULL CHECK (consumer_id ~ '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$'),
    -- The books' home currency: items that do not name a currency are in it.
    books_currency   char(3) NOT NULL,
    status           text NOT NULL DEFAULT 'connected'
                     CHECK (status IN ('connected', 'reconnect_needed', 'unavailable')),
    status_detail    text,
    checked_at       timestamptz,
    last_read_at     timestamptz,
    -- Counts of the last read: matched, unmatched, ambiguous, currency_mismatch, no_cost, items.
    match_counts     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per accounting item at the last read: how it was matched to a variant, or why not.
CREATE TABLE accounting_item_matches (
    shop_id       bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    item_id       text NOT NULL,
    code          text,
    name          text,
    unit_cost     numeric(12, 4),
    currency      char(3),
    outcome       text NOT NULL
                  CHECK (outcome IN ('matched', 'unmatched', 'ambiguous', 'currency_mismatch', 'no_cost')),
    matched_by    text CHECK (matched_by IN ('sku', 'name')),
    variant_id    bigint REFERENCES variants(id) ON DELETE SET NULL,
    candidates    integer NOT NULL DEFAULT 0,
    read_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, item_id)
);
CREATE INDEX accounting_item_matches_outcome ON accounting_item_matches (shop_id, outcome);
