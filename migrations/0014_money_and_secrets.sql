-- Prices (issue 14 §3). Jobs' reservations and charges are computed by core's
-- `domain::pricing`; `calculate_job_credits` is the same reservation rule for SQL readers
-- (reports, ad-hoc queries), checked equal by core/tests/money.rs: an `auto` job whose
-- options need a browser (render_js, wait_for, wait_until other than load, screenshot,
-- pdf) starts in the browser and reserves the browser price. Dearer steps (escalation, a
-- CAPTCHA solve) raise the job's reservation before they run.

CREATE OR REPLACE FUNCTION calculate_job_credits(
    p_engine TEXT, p_proxy_tier TEXT, p_options JSONB
) RETURNS BIGINT AS $$
DECLARE
    credits BIGINT;
    needs_browser BOOLEAN := COALESCE((p_options->>'render_js')::BOOLEAN, FALSE)
        OR COALESCE(p_options->>'wait_for', '') <> ''
        OR COALESCE(p_options->>'wait_until', 'load') <> 'load'
        OR COALESCE((p_options->>'screenshot')::BOOLEAN, FALSE)
        OR COALESCE((p_options->>'pdf')::BOOLEAN, FALSE);
BEGIN
    credits := CASE p_engine
        WHEN 'http' THEN 1
        WHEN 'browser' THEN 5
        WHEN 'stealth' THEN 10
        ELSE CASE WHEN needs_browser THEN 5 ELSE 1 END
    END;
    credits := credits + CASE p_proxy_tier
        WHEN 'residential' THEN 3
        WHEN 'mobile' THEN 10
        WHEN 'isp' THEN 5
        ELSE 0
    END;
    IF COALESCE((p_options->>'screenshot')::BOOLEAN, FALSE) THEN
        credits := credits + 2;
    END IF;
    IF COALESCE((p_options->>'pdf')::BOOLEAN, FALSE) THEN
        credits := credits + 3;
    END IF;
    RETURN credits;
END;
$$ LANGUAGE plpgsql IMMUTABLE;

-- Webhook secrets sealed at rest (issue 14 §6), like proxy credentials, with AES-256-GCM
-- bound to the row (the row id is the associated data). `secret` (plaintext) stays only
-- for rows written before this migration: the API and the workers re-seal them at start
-- (`Db::reseal_secrets`, which also re-seals proxy credentials sealed before binding),
-- because the key (`SCRX_SECRETS_KEY`) is theirs, never the database's.
-- A rotation keeps the replaced secret, sealed, until `previous_secret_expires_at`.
ALTER TABLE webhooks
    ALTER COLUMN secret DROP NOT NULL,
    ADD COLUMN secret_sealed BYTEA,
    ADD COLUMN previous_secret_sealed BYTEA,
    ADD COLUMN previous_secret_expires_at TIMESTAMPTZ,
    ADD CONSTRAINT webhooks_secret_present CHECK (secret IS NOT NULL OR secret_sealed IS NOT NULL);

COMMENT ON COLUMN webhooks.secret IS 'Plaintext secret of a row written before sealing; emptied by the start-up re-seal';
COMMENT ON COLUMN webhooks.secret_sealed IS 'Signing secret, AES-256-GCM under SCRX_SECRETS_KEY, bound to the row id';
