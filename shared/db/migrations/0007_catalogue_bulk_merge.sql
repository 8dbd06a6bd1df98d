-- The bulk merge of a full catalogue read (shared/db/catalogue_staging.py), measured by
-- `python -m shared.cli bench sync` against a bare COPY of the same rows.

-- A foreign key is checked by a trigger, row by row, and on a first load those checks were a
-- third of the insert. A variant had two keys (its shop, its product), and its shop is its
-- product's: one composite key checks both, and also that they agree. Deleting a shop still
-- cascades to its variants, through its products.
ALTER TABLE products ADD CONSTRAINT products_shop_id_id_key UNIQUE (shop_id, id);
ALTER TABLE variants DROP CONSTRAINT variants_shop_id_fkey;
ALTER TABLE variants DROP CONSTRAINT variants_product_id_fkey;
ALTER TABLE variants ADD CONSTRAINT variants_shop_product_fkey
    FOREIGN KEY (shop_id, product_id) REFERENCES products (shop_id, id) ON DELETE CASCADE;

-- A re-read where every price or stock changed rewrites every variant. With half of each page
-- free, each row's new version fits on its own page (a HOT update: no index entries written);
-- at 85% only about one row in six found room and the rest wrote all four indexes again.
-- The dead versions of the day before are pruned as the page is next visited.
ALTER TABLE variants SET (fillfactor = 50);
