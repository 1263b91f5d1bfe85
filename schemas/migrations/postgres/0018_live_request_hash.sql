-- A live write is a repeat only when it is the same request as the last one with its message
-- identifier and keys: Banner ILP sends the identifier "2" with every request, so the
-- identifier alone cannot tell a retry from a new change. request_hash is a digest of the
-- request's SOAP Body ('' for entries written before it: never a repeat).

ALTER TABLE live_requests ADD COLUMN request_hash text NOT NULL DEFAULT '';
