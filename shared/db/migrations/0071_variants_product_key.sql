-- A variant's product must be of the variant's own shop: one composite foreign key says so, and
-- replaces the two that each variant was checked against (its shop, and its product by id
-- alone). A first sync of a large shop checks every new variant row by row; measured with
-- `python -m shared.cli bench sync` (EXPLAIN ANALYZE of a first load of 100,000 variants), the
-- checks were the larger part of its time, and one check per variant instead of two saves a third
-- of them. Deleting a shop still removes its variants: the shop's products go, and they take
-- their variants with them (ON DELETE CASCADE, through the variants_product index).
ALTER TABLE products ADD CONSTRAINT products_shop_id_id_key UNIQUE (shop_id, id);
ALTER TABLE variants
    ADD CONSTRAINT variants_shop_product_fkey FOREIGN KEY (shop_id, product_id)
        REFERENCES products (shop_id, id) ON DELETE CASCADE,
    DROP CONSTRAINT variants_product_id_fkey,
    DROP CONSTRAINT variants_shop_id_fkey;
