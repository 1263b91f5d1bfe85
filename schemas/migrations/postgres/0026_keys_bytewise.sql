-- Keys are compared byte by byte (COLLATE "C"), whatever the database's own collation. A key
-- is an identifier from the SIS, never sorted for a reader, but every row an import writes
-- places one entry in each of its table's indexes by comparing keys: in a database made with a
-- linguistic collation (initdb's default takes the system's locale, e.g. en_US.UTF-8), each of
-- those comparisons went through the locale's collation rules. Figures: the 316.8 MB feed's
-- 1,469,925 memberships copied into a table with both its indexes, two runs each: key columns
-- in "C" 5.98-6.55 s, in C.utf8 (glibc) 9.02-9.82 s, in en-US (ICU) 10.36-10.43 s.
--
-- A database made with LC_COLLATE C (as imsfeed's test server is) compared them so already;
-- there this only rebuilds the indexes once. Names keep the database's collation: the console
-- sorts them for people. Equality is the same under both (both collations are deterministic),
-- and a key column compared with a column left in the database's collation is compared in "C".

ALTER TABLE persons
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN key TYPE text COLLATE "C";
ALTER TABLE groups
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN key TYPE text COLLATE "C";
ALTER TABLE memberships
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN group_key TYPE text COLLATE "C",
    ALTER COLUMN member_key TYPE text COLLATE "C",
    ALTER COLUMN role TYPE text COLLATE "C";
ALTER TABLE relations
    ALTER COLUMN tenant TYPE text COLLATE "C",
    ALTER COLUMN person_key TYPE text COLLATE "C",
    ALTER COLUMN related_key TYPE text COLLATE "C",
    ALTER COLUMN type TYPE text COLLATE "C";
