-- Keep the inputs a recommendation was made from, so the briefing can explain it later.
ALTER TABLE recommendations
    ADD COLUMN currency        char(3) NOT NULL DEFAULT 'GBP',
    ADD COLUMN stock           integer,
    ADD COLUMN units_sold_28d  integer NOT NULL DEFAULT 0,
    ADD COLUMN trend_slope     double precision,
    ADD COLUMN floor_price     numeric(12, 2),
    ADD COLUMN margin_pct      numeric(8, 1);
