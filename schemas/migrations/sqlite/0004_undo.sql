-- Undo: the before-images of the rows a run changed, one row per applied change set (a run
-- held under hold-removals and approved later has two), kept for the tenant's undo_days.
-- images is imsfeed's own encoding (gzip): for each state table, every row the change set
-- touched as it was before, or the key alone where there was none. version_before and
-- version_after chain the changes, so an undo knows what came after a run.
CREATE TABLE run_undo (
    run_id         INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    tenant         TEXT NOT NULL,
    version_before INTEGER NOT NULL,
    version_after  INTEGER NOT NULL,
    at             TEXT NOT NULL,
    images         BLOB NOT NULL,
    PRIMARY KEY (run_id, version_after)
);
CREATE INDEX run_undo_tenant ON run_undo (tenant, version_after);
CREATE INDEX run_undo_at ON run_undo (at);
