-- The first schema: everything the daily pipeline reads and writes.
-- Every table that a step writes has a natural key, so that a step run twice leaves one result.

CREATE TABLE shops (
    id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    domain                    text NOT NULL UNIQUE CHECK (domain ~ '^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$'),
    name                      text,
    currency                  char(3) NOT NULL DEFAULT 'GBP',
    status                    text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'uninstalled', 'needs_reauth')),
    -- Tokens are stored only as AES-GCM ciphertext; token_key_id names the key that sealed them.
    access_token_ciphertext   bytea,
    refresh_token_ciphertext  bytea,
    token_key_id              text,
    access_token_expires_at   timestamptz,
    refresh_token_expires_at  timestamptz,
    scopes                    text,
    pricing_settings          jsonb NOT NULL DEFAULT '{}'::jsonb,
    installed_at              timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE products (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id         bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    shopify_id      text NOT NULL,
    title           text NOT NULL,
    handle          text,
    product_type    text,
    vendor          text,
    status          text,
    shopify_updated_at timestamptz,
    synced_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop_id, shopify_id)
);

CREATE TABLE variants (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id             bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    product_id          bigint NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    shopify_id          text NOT NULL,
    sku                 text,
    title               text,
    barcode             text,
    price               numeric(12, 2) NOT NULL CHECK (price >= 0),
    compare_at_price    numeric(12, 2) CHECK (compare_at_price >= 0),
    inventory_item_id   text,
    inventory_quantity  integer,
    -- InventoryItem.unitCost as Shopify reported it at the last sync; update_costs decides the effective cost.
    shopify_unit_cost   numeric(12, 4) CHECK (shopify_unit_cost >= 0),
    shopify_unit_cost_currency char(3),
    synced_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop_id, shopify_id)
);
CREATE INDEX variants_shop_sku ON variants (shop_id, sku);

CREATE TABLE inventory_levels (
    shop_id            bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    inventory_item_id  text NOT NULL,
    location_id        text NOT NULL,
    location_name      text,
    available          integer,
    on_hand            integer,
    committed          integer,
    synced_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, inventory_item_id, location_id)
);

-- Order lines carry no customer personal data: what sold, when, how many, at what price.
CREATE TABLE order_lines (
    shop_id                bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    line_id                text NOT NULL,
    order_id               text NOT NULL,
    order_created_at       timestamptz NOT NULL,
    cancelled              boolean NOT NULL DEFAULT false,
    variant_shopify_id     text,
    product_shopify_id     text,
    sku                    text,
    quantity               integer NOT NULL,
    current_quantity       integer NOT NULL,
    original_unit_price    numeric(12, 2) NOT NULL,
    discounted_unit_price  numeric(12, 2) NOT NULL,
    currency               char(3) NOT NULL,
    synced_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, line_id)
);
CREATE INDEX order_lines_variant_time ON order_lines (shop_id, variant_shopify_id, order_created_at);

CREATE TABLE unit_costs (
    shop_id      bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    variant_id   bigint NOT NULL REFERENCES variants(id) ON DELETE CASCADE,
    source       text NOT NULL CHECK (source IN ('accounting', 'shopify', 'csv')),
    cost         numeric(12, 4) NOT NULL CHECK (cost >= 0),
    currency     char(3) NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (variant_id, source)
);

CREATE TABLE competitors (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id         bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    name            text NOT NULL,
    domain          text NOT NULL,
    currency        char(3) NOT NULL DEFAULT 'GBP',
    fetch_tier      text NOT NULL DEFAULT 'standard' CHECK (fetch_tier IN ('standard', 'js', 'premium')),
    price_selector  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop_id, name)
);

CREATE TABLE competitor_urls (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    competitor_id     bigint NOT NULL REFERENCES competitors(id) ON DELETE CASCADE,
    variant_id        bigint NOT NULL REFERENCES variants(id) ON DELETE CASCADE,
    url               text NOT NULL,
    match_status      text NOT NULL DEFAULT 'confirmed' CHECK (match_status IN ('confirmed', 'proposed', 'rejected')),
    match_method      text,
    match_confidence  numeric(4, 3),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (competitor_id, variant_id)
);

CREATE TABLE competitor_prices (
    competitor_url_id  bigint NOT NULL REFERENCES competitor_urls(id) ON DELETE CASCADE,
    run_id             text NOT NULL,
    observed_at        timestamptz NOT NULL,
    fetch_status       text NOT NULL CHECK (fetch_status IN ('ok', 'no_price', 'error')),
    price              numeric(12, 2) CHECK (price >= 0),
    currency           char(3),
    availability       text CHECK (availability IN ('in_stock', 'out_of_stock', 'unknown')),
    source             text,
    error              text,
    PRIMARY KEY (competitor_url_id, run_id)
);

-- interest is NULL when the value is missing: missing is not zero.
CREATE TABLE trend_observations (
    shop_id       bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    keyword       text NOT NULL,
    geo           text NOT NULL DEFAULT '',
    period_start  date NOT NULL,
    interest      numeric(8, 3),
    anchor        text,
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, keyword, geo, period_start)
);

CREATE TABLE social_signals (
    run_id      text NOT NULL,
    shop_id     bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    product_id  bigint NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    mentions    integer NOT NULL,
    sentiment   numeric(4, 3) NOT NULL,
    is_mock     boolean NOT NULL,
    PRIMARY KEY (run_id, product_id)
);

CREATE TABLE pipeline_runs (
    id           text PRIMARY KEY,          -- the Durable instance id
    shop_id      bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    trigger      text NOT NULL,
    status       text NOT NULL CHECK (status IN ('running', 'completed', 'degraded', 'failed')),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    error        text
);
CREATE INDEX pipeline_runs_shop_started ON pipeline_runs (shop_id, started_at DESC);

CREATE TABLE pipeline_steps (
    run_id       text NOT NULL REFERENCES pipeline_runs(id) ON DELETE CASCADE,
    step         text NOT NULL,
    status       text NOT NULL CHECK (status IN ('running', 'ok', 'degraded', 'failed', 'skipped')),
    attempts     integer NOT NULL DEFAULT 0,
    started_at   timestamptz,
    finished_at  timestamptz,
    counts       jsonb NOT NULL DEFAULT '{}'::jsonb,
    error        text,
    PRIMARY KEY (run_id, step)
);

CREATE TABLE recommendations (
    run_id             text NOT NULL REFERENCES pipeline_runs(id) ON DELETE CASCADE,
    variant_id         bigint NOT NULL REFERENCES variants(id) ON DELETE CASCADE,
    current_price      numeric(12, 2) NOT NULL,
    cost               numeric(12, 4),
    cost_source        text,
    competitor_min     numeric(12, 2),
    competitor_median  numeric(12, 2),
    competitor_max     numeric(12, 2),
    competitor_count   integer NOT NULL DEFAULT 0,
    recommended_price  numeric(12, 2),
    change_pct         numeric(7, 2),
    confidence         numeric(4, 3),
    reason_codes       text[] NOT NULL DEFAULT '{}',
    explanation        text NOT NULL,
    PRIMARY KEY (run_id, variant_id)
);

CREATE TABLE briefings (
    run_id            text PRIMARY KEY REFERENCES pipeline_runs(id) ON DELETE CASCADE,
    shop_id           bigint NOT NULL REFERENCES shops(id) ON DELETE CASCADE,
    insights          jsonb NOT NULL DEFAULT '[]'::jsonb,
    script            jsonb,
    script_source     text,
    audio_uri         text,
    audio_seconds     numeric(8, 2),
    video_uri         text,
    video_seconds     numeric(8, 2),
    page_uri          text,
    published_at      timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_events (
    webhook_id    text PRIMARY KEY,        -- X-Shopify-Webhook-Id: the delivery, repeated on retries
    event_id      text,                    -- X-Shopify-Event-Id: the event, shared across subscriptions
    shop_domain   text NOT NULL,
    topic         text NOT NULL,
    payload       jsonb NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz,
    status        text NOT NULL DEFAULT 'received' CHECK (status IN ('received', 'processed', 'failed'))
);
