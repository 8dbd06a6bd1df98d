-- variants_shop_sku (shop_id, sku) served no query on its own: the SKU lookups of competitor
-- matching and imports compare lower(sku), which this index cannot answer; the catalogue CSV
-- import joins a whole file's SKUs to the shop's variants (a hash join); and a scan of one
-- shop's variants uses the (shop_id, shopify_id) key as well. It cost an entry per inserted
-- variant and made every SKU change a non-HOT update (`python -m shared.cli bench sync`).
DROP INDEX IF EXISTS variants_shop_sku;
