-- The pricing engine's fuller output: the floor it kept (MAP), the stock and demand it read,
-- and what the change is expected to do over the next 28 days.
ALTER TABLE recommendations
    ADD COLUMN compare_at_price         numeric(12, 2),
    ADD COLUMN map_price                numeric(12, 2),
    ADD COLUMN days_of_cover            double precision,
    ADD COLUMN elasticity               double precision,
    ADD COLUMN expected_units_change    numeric(12, 1),
    ADD COLUMN expected_revenue_change  numeric(14, 2),
    ADD COLUMN expected_profit_change   numeric(14, 2);

-- The elasticity per product group a run used, with the evidence behind it.
CREATE TABLE elasticity_estimates (
    run_id          text NOT NULL REFERENCES pipeline_runs(id) ON DELETE CASCADE,
    product_group   text NOT NULL,
    estimate        double precision NOT NULL CHECK (estimate < 0),
    raw_estimate    double precision,
    standard_error  double precision,
    prior           double precision NOT NULL,
    observations    integer NOT NULL,
    units           double precision NOT NULL,
    source          text NOT NULL CHECK (source IN ('estimated', 'prior')),
    PRIMARY KEY (run_id, product_group)
);
