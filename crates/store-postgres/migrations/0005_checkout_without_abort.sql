-- Checkout no longer undoes itself with an error when a line is short: it
-- locks every line's product first and writes only if all could be locked
-- (see src/checkout.rs), so a refusal is an empty result, not an ERROR in
-- the server log. The function from 0004 has no caller left.
DROP FUNCTION emporium_abort(TEXT);
