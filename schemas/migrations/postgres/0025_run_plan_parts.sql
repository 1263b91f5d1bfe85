-- A held plan in parts (issue 18): its JSON document cut into pieces of about 1 MiB, each
-- gzip-compressed, in order (seq from 0). Approval reads them back one at a time, checking the
-- run's plan SHA-256 over the document as it goes, so neither the hold nor the approval holds
-- the whole document (74 MB for a hold of 505,000 changes). Plans held before this migration
-- stay in run_plans, read as they are.
CREATE TABLE run_plan_parts (
    run_id bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    data   bytea NOT NULL,
    PRIMARY KEY (run_id, seq)
);
