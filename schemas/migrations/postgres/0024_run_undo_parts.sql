-- A change set's before-images in parts (issue 18): the images are run_undo.images followed by
-- these, in seq order. An initial load written while it was read (SQLite) keeps the keys of
-- its persons and memberships, most of its images (15 MB, compressed, for the 1 GB feed), in
-- the parts it wrote them in, which the database copies here: in one value they were held
-- three times in memory as the apply ended (the program's, the driver's and SQLite's copies).
CREATE TABLE run_undo_parts (
    run_id        bigint NOT NULL,
    version_after bigint NOT NULL,
    seq           INTEGER NOT NULL,
    data          bytea NOT NULL,
    PRIMARY KEY (run_id, version_after, seq),
    FOREIGN KEY (run_id, version_after) REFERENCES run_undo (run_id, version_after) ON DELETE CASCADE
);
