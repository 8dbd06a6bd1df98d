-- A full sync deletes the products and variants Shopify no longer has. ON DELETE CASCADE follows
-- these foreign keys row by row; without an index each deleted row scanned the whole child table.
CREATE INDEX variants_product ON variants (product_id);
CREATE INDEX recommendations_variant ON recommendations (variant_id);
CREATE INDEX competitor_urls_variant ON competitor_urls (variant_id);
CREATE INDEX social_signals_product ON social_signals (product_id);

-- The daily full read rewrites most catalogue rows: leave room in each page so that an update
-- that changes no indexed column stays on its page (a HOT update writes no index entries).
ALTER TABLE products SET (fillfactor = 85);
ALTER TABLE variants SET (fillfactor = 85);
ALTER TABLE inventory_levels SET (fillfactor = 85);
