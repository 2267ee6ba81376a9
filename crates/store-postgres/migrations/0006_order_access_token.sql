-- A guest order's access token, kept only as the SHA-256 hash (hex) of the
-- token handed to the buyer when the order was placed: a guest proves an
-- order is theirs with it, never with the e-mail. NULL for users' orders
-- (reached by signing in) and for guest orders placed before this version,
-- which only an admin can reach.
ALTER TABLE orders ADD COLUMN access_token_hash TEXT;
