-- What each briefing cost, in each provider's own unit: Azure OpenAI prompt_tokens and
-- completion_tokens, ElevenLabs (or espeak-ng) characters, VEED (or ffmpeg) video_seconds.
-- One row per step, service and unit; a step that runs again replaces its own rows.
CREATE TABLE briefing_costs (
    run_id       text NOT NULL REFERENCES pipeline_runs(id) ON DELETE CASCADE,
    step         text NOT NULL,
    service      text NOT NULL,
    unit         text NOT NULL,
    amount       numeric(14, 3) NOT NULL CHECK (amount >= 0),
    calls        integer NOT NULL DEFAULT 0 CHECK (calls >= 0),
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, step, service, unit)
);
