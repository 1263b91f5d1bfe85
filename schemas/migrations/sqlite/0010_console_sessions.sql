-- The console's sign-ins, kept in the store so that they survive a restart of serve and hold
-- in every serve process behind one load balancer; a sign-out deletes the row everywhere.
-- id is the SHA-256 of the cookie's random token: the store never holds a usable session.
CREATE TABLE console_sessions (
    id           TEXT PRIMARY KEY,
    operator     TEXT NOT NULL,
    created_unix INTEGER NOT NULL,
    expires_unix INTEGER NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_unix);

-- The console's secret keys (the CSRF key), made once at first use and shared by the processes.
CREATE TABLE console_keys (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
