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
