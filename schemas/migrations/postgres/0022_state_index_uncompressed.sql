-- The state index's buckets are stored without compression (still out of line when large):
-- they are mostly keys and content hashes, which pglz tried to compress on every write and
-- gave up on (the 316.8 MB feed's 46 MB of buckets stored as 46 MB), at about 1.1 s of the
-- server's CPU in an initial load's apply and a share of every re-import's and live write's.
-- Existing buckets stay as they are until rewritten.

ALTER TABLE state_index ALTER COLUMN data SET STORAGE EXTERNAL;
