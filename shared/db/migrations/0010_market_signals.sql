-- Market signals: what each observation cost, proposed matches for competitor pages without a
-- SKU, the per-day competitor price summary, and the per-day trends cache.

-- Google Trends' geo is the shop's country (ISO 3166-1 alpha-2); unset: the app's default.
ALTER TABLE shops ADD COLUMN IF NOT EXISTS country char(2) CHECK (country ~ '^[A-Z]{2}$');
-- The merchant's own search keyword for a product, overriding the one derived from its group.
ALTER TABLE products ADD COLUMN IF NOT EXISTS trend_keyword text CHECK (length(trend_keyword) BETWEEN 1 AND 100);

-- How a page was fetched and what it cost (ZenRows' X-Request-Cost in USD, summed over attempts).
ALTER TABLE competitor_prices
    ADD COLUMN fetcher         text CHECK (fetcher IN ('direct', 'zenrows')),
    ADD COLUMN fetch_attempts  integer CHECK (fetch_attempts >= 0),
    ADD COLUMN fetch_cost      numeric(12, 6) CHECK (fetch_cost >= 0);

-- Competitor pages given without a SKU: read, matched to a variant (GTIN, then SKU/MPN, then
-- title), and kept as a proposal until the merchant confirms or rejects it. Only a confirmed
-- match becomes a competitor_urls row, and only those are scraped.
CREATE TABLE competitor_page_matches (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    competitor_id  bigint NOT NULL REFERENCES competitors(id) ON DELETE CASCADE,
    url            text NOT NULL,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'proposed', 'no_match', 'confirmed', 'rejected')),
    variant_id     bigint REFERENCES variants(id) ON DELETE SET NULL,
    method         text CHECK (method IN ('gtin', 'sku', 'mpn', 'title', 'manual')),
    confidence     numeric(4, 3) CHECK (confidence BETWEEN 0 AND 1),
    page_title     text,
    page_gtin      text,
    page_sku       text,
    page_mpn       text,
    error          text,
    proposed_at    timestamptz,
    decided_at     timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (competitor_id, url)
);
CREATE INDEX competitor_page_matches_status ON competitor_page_matches (competitor_id, status);

-- Per variant and day: the spread of fresh, in-stock competitor prices in the shop's currency,
-- and what was left out and why (other currencies are counted, never mixed in).
CREATE TABLE competitor_price_days (
    shop_id               bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    variant_id            bigint NOT NULL REFERENCES variants(id) ON DELETE CASCADE,
    day                   date NOT NULL,
    currency              char(3) NOT NULL,
    min_price             numeric(12, 2),
    median_price          numeric(12, 2),
    max_price             numeric(12, 2),
    priced                integer NOT NULL DEFAULT 0,
    out_of_stock          integer NOT NULL DEFAULT 0,
    stale                 integer NOT NULL DEFAULT 0,
    other_currency        integer NOT NULL DEFAULT 0,
    other_currencies      text[] NOT NULL DEFAULT '{}',
    computed_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (variant_id, day)
);

-- The trends cache: one row per keyword and day. A keyword fetched today is not asked for
-- again today; a missing one (its batch failed) is, and stays NULL until then, never zero.
CREATE TABLE trend_keyword_days (
    shop_id         bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    keyword         text NOT NULL,
    geo             text NOT NULL,
    timeframe       text NOT NULL,
    day             date NOT NULL,
    status          text NOT NULL CHECK (status IN ('ok', 'missing')),
    interest_index  numeric(10, 3),
    slope_4w        double precision,
    anchor          text NOT NULL,
    fetched_at      timestamptz NOT NULL,
    PRIMARY KEY (shop_id, keyword, geo, timeframe, day),
    CHECK (status = 'ok' OR interest_index IS NULL)
);
