-- When the catalogue was last read, so that the daily sync asks only for what changed since.
ALTER TABLE shops
    ADD COLUMN last_sync_at       timestamptz,
    ADD COLUMN last_full_sync_at  timestamptz;
