-- What each step of a run spent on outside services, in each provider's own unit
-- (query_points, request_cost, prompt_tokens, characters, video_seconds, requests, and `calls`).
-- One row per (run, step, service, unit). Each execution of an activity adds what it spent to its
-- row exactly once, when it finishes: a retried step really spent twice, so its row grows.
CREATE TABLE run_costs (
    run_id       text NOT NULL REFERENCES pipeline_runs(id) ON DELETE CASCADE,
    step         text NOT NULL,
    service      text NOT NULL,
    unit         text NOT NULL,
    amount       numeric(20, 4) NOT NULL CHECK (amount >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, step, service, unit)
);
