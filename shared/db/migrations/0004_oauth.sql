-- Installing through OAuth: single-use state nonces, and why a shop has to authorise again.

-- One row per install attempt. Only a hash of the nonce is kept: the nonce travels in URLs
-- and a cookie, and a copy of this table must not let anyone complete someone else's install.
CREATE TABLE oauth_states (
    state_hash   bytea PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    shop_domain  text NOT NULL CHECK (shop_domain ~ '^[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com$'),
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    consumed_at  timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX oauth_states_expires_at ON oauth_states (expires_at);

-- Set with status 'needs_reauth' (e.g. Shopify refused the refresh token), cleared on reinstall.
ALTER TABLE shops
    ADD COLUMN reauth_reason      text,
    ADD COLUMN tokens_renewed_at  timestamptz;
