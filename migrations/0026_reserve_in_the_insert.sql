-- A submission's credits reserved in the statement that inserts its jobs. The reservation
-- locks the organization's row until the transaction ends; taken in a statement of its own
-- inside a client-driven transaction, the lock was held over two more round trips (the
-- reservation's answer, then COMMIT), so an organization's submissions queued behind each
-- other: 16 clients inserted no faster than one. Called from the INSERT's own statement,
-- outside any explicit transaction, the lock lasts only until that statement commits.
-- Raises SQLSTATE SX402 when the balance cannot cover `amount` (the statement, and so its
-- inserts, are rolled back); core maps it to InsufficientCredits with the amount from DETAIL.
CREATE OR REPLACE FUNCTION reserve_credits_or_fail(org_id UUID, amount BIGINT)
RETURNS BOOLEAN AS $$
BEGIN
    IF amount > 0 AND NOT deduct_credits(org_id, amount) THEN
        RAISE EXCEPTION 'insufficient credits: % required', amount
            USING ERRCODE = 'SX402', DETAIL = amount::text;
    END IF;
    RETURN TRUE;
END;
$$ LANGUAGE plpgsql;
