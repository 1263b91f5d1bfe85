-- The live channel in the status mail: what each live request created and updated per type
-- (its removals are counted already), and per tenant how far the status mails (or the daily
-- digest of a live-only tenant) have reported the request log and the allowances.

ALTER TABLE live_requests ADD COLUMN inserted_persons INTEGER NOT NULL DEFAULT 0;
ALTER TABLE live_requests ADD COLUMN inserted_groups INTEGER NOT NULL DEFAULT 0;
ALTER TABLE live_requests ADD COLUMN inserted_memberships INTEGER NOT NULL DEFAULT 0;
ALTER TABLE live_requests ADD COLUMN updated_persons INTEGER NOT NULL DEFAULT 0;
ALTER TABLE live_requests ADD COLUMN updated_groups INTEGER NOT NULL DEFAULT 0;
ALTER TABLE live_requests ADD COLUMN updated_memberships INTEGER NOT NULL DEFAULT 0;
ALTER TABLE live_requests ADD COLUMN restored_persons INTEGER NOT NULL DEFAULT 0;

CREATE TABLE live_reports (
    tenant       TEXT PRIMARY KEY,
    request_id   INTEGER NOT NULL DEFAULT 0,
    allowance_id INTEGER NOT NULL DEFAULT 0,
    at           TEXT NOT NULL
);
