-- Failed sign-ins to the console, per operator name and per client address, kept in the store
-- so that every serve process behind one load balancer slows down the same attacker: spread
-- over the processes, the attempts still add up here. key is the SHA-256 of "name:LOGIN" or
-- "ip:ADDRESS", never the text: a password typed into the name field is not kept readable.
-- A row is forgotten at the next failure anywhere once its last failure is old enough.
CREATE TABLE console_signin_failures (
    key       TEXT PRIMARY KEY,
    failures  INTEGER NOT NULL,
    last_ms   INTEGER NOT NULL
);
CREATE INDEX console_signin_failures_last ON console_signin_failures (last_ms);
