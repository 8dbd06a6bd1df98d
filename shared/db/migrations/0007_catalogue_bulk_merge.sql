-- The bulk merge of a full catalogue read (shared/db/catalogue_staging.py), measured by
-- `python -m shared.cli bench sync` against a bare COPY of the same rows.

-- A re-read where every price or stock changed rewrites every variant. With half of each page
-- free, each row's new version fits on its own page (a HOT update: no index entries written);
-- at 85% only about one row in six found room and the rest wrote all four indexes again.
-- The dead versions of the day before are pruned as the page is next visited.
ALTER TABLE variants SET (fillfactor = 50);
