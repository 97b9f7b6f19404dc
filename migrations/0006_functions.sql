-- Credit, statistics, cleanup and aggregation functions (seed 000 §2.3, §7; seed 001 §3.7).

-- Pricing rules, one place. The (engine, proxy tier, options) form lets the API estimate a
-- job before inserting it; the row form is the seed's signature.
CREATE OR REPLACE FUNCTION calculate_job_credits(
    p_engine TEXT, p_proxy_tier TEXT, p_options JSONB
) RETURNS BIGINT AS $$
DECLARE
    credits BIGINT;
BEGIN
    credits := CASE p_engine
        WHEN 'http' THEN 1
        WHEN 'browser' THEN 5
        WHEN 'stealth' THEN 10
        ELSE 1  -- auto: charged as http, settled to the engine actually used
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

CREATE OR REPLACE FUNCTION calculate_job_credits(job scrape_jobs)
RETURNS BIGINT AS $$
    SELECT calculate_job_credits(job.engine, job.proxy_tier, job.options);
$$ LANGUAGE sql IMMUTABLE;

-- Plans that may consume past a zero balance (counted as overage, billed later).
CREATE OR REPLACE FUNCTION plan_allows_overage(p_plan TEXT)
RETURNS BOOLEAN AS $$
    SELECT p_plan = 'enterprise';
$$ LANGUAGE sql IMMUTABLE;

CREATE OR REPLACE FUNCTION check_organization_credits(org_id UUID, required_credits BIGINT)
RETURNS BOOLEAN AS $$
    SELECT COALESCE(
        (SELECT plan_allows_overage(plan_id) OR credits_balance >= required_credits
         FROM organizations WHERE id = org_id AND deleted_at IS NULL),
        FALSE);
$$ LANGUAGE sql STABLE;

-- One conditional UPDATE: atomic under concurrency, never below zero. Returns FALSE when
-- the organization cannot cover the amount.
CREATE OR REPLACE FUNCTION deduct_credits(org_id UUID, amount BIGINT)
RETURNS BOOLEAN AS $$
DECLARE
    updated_count INTEGER;
BEGIN
    IF amount IS NULL OR amount < 0 THEN
        RAISE EXCEPTION 'deduct_credits: amount must be >= 0, got %', amount
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE organizations
    SET credits_balance = GREATEST(credits_balance - amount, 0),
        credits_overage_used = credits_overage_used + GREATEST(amount - credits_balance, 0)
    WHERE id = org_id
      AND deleted_at IS NULL
      AND (credits_balance >= amount OR plan_allows_overage(plan_id));
    GET DIAGNOSTICS updated_count = ROW_COUNT;
    RETURN updated_count > 0;
END;
$$ LANGUAGE plpgsql;

-- Refunds and top-ups pay down overage first, then raise the balance.
CREATE OR REPLACE FUNCTION add_credits(org_id UUID, amount BIGINT)
RETURNS VOID AS $$
BEGIN
    IF amount IS NULL OR amount < 0 THEN
        RAISE EXCEPTION 'add_credits: amount must be >= 0, got %', amount
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE organizations
    SET credits_overage_used = GREATEST(credits_overage_used - amount, 0),
        credits_balance = credits_balance + GREATEST(amount - credits_overage_used, 0)
    WHERE id = org_id;
END;
$$ LANGUAGE plpgsql;

-- Grants each organization its credits for the current billing period, once per period:
-- organizations with an active or trialing subscription get the subscription's
-- credits_included; organizations with no subscription at all get credits_included_monthly;
-- the others (canceled, unpaid, ...) get nothing. Overage of the closing period is recorded
-- in the monthly usage record before it is cleared. Returns how many were reset.
CREATE OR REPLACE FUNCTION reset_monthly_credits()
RETURNS INTEGER AS $$
DECLARE
    reset_count INTEGER;
BEGIN
    WITH grants AS (
        SELECT o.id AS organization_id,
               COALESCE(s.credits_included, o.credits_included_monthly) AS credits,
               COALESCE(s.current_period_start, date_trunc('month', NOW())) AS period_start,
               s.id AS subscription_id
        FROM organizations o
        LEFT JOIN LATERAL (
            SELECT * FROM subscriptions s
            WHERE s.organization_id = o.id
              AND s.status IN ('active', 'trialing')
              AND s.current_period_start <= NOW() AND s.current_period_end > NOW()
            ORDER BY s.current_period_start DESC LIMIT 1
        ) s ON TRUE
        WHERE o.deleted_at IS NULL
          AND (s.id IS NOT NULL
               OR NOT EXISTS (SELECT 1 FROM subscriptions x WHERE x.organization_id = o.id))
    ),
    due AS (
        SELECT g.*, o.credits_overage_used AS overage, o.credits_reset_at
        FROM grants g JOIN organizations o ON o.id = g.organization_id
        WHERE o.credits_reset_at IS NULL OR o.credits_reset_at < g.period_start
        FOR UPDATE OF o
    ),
    overage AS (
        INSERT INTO usage_records AS u (organization_id, subscription_id, period_start,
                                        period_end, granularity, credits_overage_used)
        SELECT organization_id, subscription_id,
               date_trunc('month', COALESCE(credits_reset_at, period_start)),
               date_trunc('month', COALESCE(credits_reset_at, period_start)) + INTERVAL '1 month',
               'monthly', overage
        FROM due WHERE overage > 0
        ON CONFLICT (organization_id, period_start, granularity)
        DO UPDATE SET credits_overage_used = u.credits_overage_used + EXCLUDED.credits_overage_used
    )
    UPDATE organizations o
    SET credits_balance = due.credits,
        credits_overage_used = 0,
        credits_reset_at = NOW()
    FROM due
    WHERE o.id = due.organization_id;
    GET DIAGNOSTICS reset_count = ROW_COUNT;
    RETURN reset_count;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION get_usage_summary(
    org_id UUID,
    start_date TIMESTAMPTZ,
    end_date TIMESTAMPTZ
)
RETURNS TABLE (
    total_requests BIGINT,
    successful_requests BIGINT,
    failed_requests BIGINT,
    credits_used BIGINT,
    avg_response_time_ms NUMERIC,
    success_rate NUMERIC
) AS $$
BEGIN
    RETURN QUERY
    SELECT
        COUNT(*)::BIGINT,
        COUNT(*) FILTER (WHERE j.status = 'completed')::BIGINT,
        COUNT(*) FILTER (WHERE j.status IN ('failed', 'timeout'))::BIGINT,
        COALESCE(SUM(j.credits_charged), 0)::BIGINT,
        ROUND(AVG(EXTRACT(EPOCH FROM (j.completed_at - j.started_at)) * 1000)::NUMERIC, 2),
        ROUND(COUNT(*) FILTER (WHERE j.status = 'completed')::NUMERIC
              / NULLIF(COUNT(*)::NUMERIC, 0) * 100, 2)
    FROM scrape_jobs j
    WHERE j.organization_id = org_id
      AND j.created_at >= start_date
      AND j.created_at < end_date;
END;
$$ LANGUAGE plpgsql STABLE;

-- The seed counted only 'pending' as waiting; queued jobs are waiting too and get their own
-- column.
CREATE OR REPLACE FUNCTION get_queue_stats()
RETURNS TABLE (
    queue_name TEXT,
    pending_count BIGINT,
    queued_count BIGINT,
    running_count BIGINT,
    avg_wait_time_ms NUMERIC
) AS $$
BEGIN
    RETURN QUERY
    SELECT
        COALESCE(sj.queue_name, 'default')::TEXT,
        COUNT(*) FILTER (WHERE sj.status = 'pending')::BIGINT,
        COUNT(*) FILTER (WHERE sj.status = 'queued')::BIGINT,
        COUNT(*) FILTER (WHERE sj.status = 'running')::BIGINT,
        ROUND(AVG(CASE WHEN sj.status = 'running' AND sj.queued_at IS NOT NULL
                  THEN EXTRACT(EPOCH FROM (sj.started_at - sj.queued_at)) * 1000 END)::NUMERIC, 2)
    FROM scrape_jobs sj
    WHERE sj.status IN ('pending', 'queued', 'running')
    GROUP BY COALESCE(sj.queue_name, 'default');
END;
$$ LANGUAGE plpgsql STABLE;

CREATE OR REPLACE FUNCTION log_system_event(
    p_event_type TEXT, p_data JSONB, p_level TEXT DEFAULT 'info', p_message TEXT DEFAULT NULL
) RETURNS VOID AS $$
    INSERT INTO system_logs (level, event_type, message, event_data)
    VALUES (p_level, p_event_type, p_message, COALESCE(p_data, '{}'));
$$ LANGUAGE sql;

-- Objects in MinIO whose database rows are gone, for the maintenance task to delete.
CREATE TABLE object_deletions (
    id BIGSERIAL PRIMARY KEY,
    bucket VARCHAR(100) NOT NULL,
    object_key VARCHAR(500) NOT NULL,
    reason VARCHAR(50) NOT NULL,
    enqueued_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

COMMENT ON TABLE object_deletions IS 'Outbox of MinIO objects to delete, filled when job_results rows are deleted';

CREATE OR REPLACE FUNCTION enqueue_result_object_deletions()
RETURNS TRIGGER AS $$
BEGIN
    INSERT INTO object_deletions (bucket, object_key, reason)
    SELECT b, k, 'job_result_deleted'
    FROM (VALUES
        (OLD.content_minio_bucket, OLD.content_minio_key),
        (OLD.screenshot_minio_bucket, OLD.screenshot_minio_key),
        (OLD.screenshot_minio_bucket, OLD.screenshot_thumbnail_key),
        (OLD.pdf_minio_bucket, OLD.pdf_minio_key)
    ) AS v(b, k)
    WHERE b IS NOT NULL AND k IS NOT NULL;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER job_results_enqueue_object_deletions
    AFTER DELETE ON job_results
    FOR EACH ROW EXECUTE FUNCTION enqueue_result_object_deletions();

-- Defect 4: the seed logged by inserting a job_events row with a random job_id (a foreign
-- key violation) and an event type outside the CHECK list. Cleanup is system activity and is
-- logged to system_logs.
CREATE OR REPLACE FUNCTION cleanup_expired_results()
RETURNS INTEGER AS $$
DECLARE
    deleted_count INTEGER;
BEGIN
    DELETE FROM job_results WHERE expires_at < NOW();
    GET DIAGNOSTICS deleted_count = ROW_COUNT;
    PERFORM log_system_event('cleanup.expired_results',
                             jsonb_build_object('deleted_results', deleted_count));
    RETURN deleted_count;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION cleanup_old_jobs(retention_days INTEGER DEFAULT 90)
RETURNS INTEGER AS $$
DECLARE
    deleted_count INTEGER;
BEGIN
    DELETE FROM scrape_jobs
    WHERE created_at < NOW() - make_interval(days => retention_days)
      AND status IN ('completed', 'failed', 'canceled', 'timeout');
    GET DIAGNOSTICS deleted_count = ROW_COUNT;
    PERFORM log_system_event('cleanup.old_jobs',
                             jsonb_build_object('deleted_jobs', deleted_count,
                                                'retention_days', retention_days));
    RETURN deleted_count;
END;
$$ LANGUAGE plpgsql;

-- Daily usage aggregation (seed 001 §3.7, whose text stops short): one 'daily' usage record
-- per organization and UTC day, from the jobs that finished that day (completed_at, the
-- moment credits are settled), with every breakdown column filled. Idempotent: re-running a
-- day overwrites that day's record. Returns the number of organizations aggregated.
CREATE OR REPLACE FUNCTION aggregate_daily_usage(p_date DATE)
RETURNS INTEGER AS $$
DECLARE
    day_start TIMESTAMPTZ := (p_date::TIMESTAMP AT TIME ZONE 'UTC');
    day_end TIMESTAMPTZ := ((p_date + 1)::TIMESTAMP AT TIME ZONE 'UTC');
    row_count INTEGER;
BEGIN
    INSERT INTO usage_records AS u (
        organization_id, subscription_id, period_start, period_end, granularity,
        total_requests, successful_requests, failed_requests,
        credits_used, credits_included_used, credits_overage_used,
        http_requests, browser_requests, stealth_requests,
        datacenter_requests, residential_requests, mobile_requests, isp_requests,
        captcha_solves, screenshots_taken, pdfs_generated,
        bandwidth_in_bytes
    )
    SELECT
        j.organization_id,
        (SELECT s.id FROM subscriptions s
          WHERE s.organization_id = j.organization_id
            AND s.current_period_start <= day_start AND s.current_period_end > day_start
          ORDER BY s.current_period_start DESC LIMIT 1),
        day_start, day_end, 'daily',
        COUNT(*),
        COUNT(*) FILTER (WHERE j.status = 'completed'),
        COUNT(*) FILTER (WHERE j.status IN ('failed', 'timeout')),
        COALESCE(SUM(j.credits_charged), 0),
        COALESCE(SUM(j.credits_charged), 0),
        0,
        COUNT(*) FILTER (WHERE j.engine = 'http'),
        COUNT(*) FILTER (WHERE j.engine = 'browser'),
        COUNT(*) FILTER (WHERE j.engine = 'stealth'),
        COUNT(*) FILTER (WHERE j.proxy_tier = 'datacenter'),
        COUNT(*) FILTER (WHERE j.proxy_tier = 'residential'),
        COUNT(*) FILTER (WHERE j.proxy_tier = 'mobile'),
        COUNT(*) FILTER (WHERE j.proxy_tier = 'isp'),
        COUNT(*) FILTER (WHERE r.captcha_solved),
        COUNT(*) FILTER (WHERE r.screenshot_minio_key IS NOT NULL),
        COUNT(*) FILTER (WHERE r.pdf_minio_key IS NOT NULL),
        COALESCE(SUM(r.content_length), 0)
    FROM scrape_jobs j
    LEFT JOIN job_results r ON r.job_id = j.id
    WHERE j.completed_at >= day_start
      AND j.completed_at < day_end
      AND j.status IN ('completed', 'failed', 'timeout')
    GROUP BY j.organization_id
    ON CONFLICT (organization_id, period_start, granularity)
    DO UPDATE SET
        subscription_id = EXCLUDED.subscription_id,
        period_end = EXCLUDED.period_end,
        total_requests = EXCLUDED.total_requests,
        successful_requests = EXCLUDED.successful_requests,
        failed_requests = EXCLUDED.failed_requests,
        credits_used = EXCLUDED.credits_used,
        credits_included_used = EXCLUDED.credits_included_used,
        http_requests = EXCLUDED.http_requests,
        browser_requests = EXCLUDED.browser_requests,
        stealth_requests = EXCLUDED.stealth_requests,
        datacenter_requests = EXCLUDED.datacenter_requests,
        residential_requests = EXCLUDED.residential_requests,
        mobile_requests = EXCLUDED.mobile_requests,
        isp_requests = EXCLUDED.isp_requests,
        captcha_solves = EXCLUDED.captcha_solves,
        screenshots_taken = EXCLUDED.screenshots_taken,
        pdfs_generated = EXCLUDED.pdfs_generated,
        bandwidth_in_bytes = EXCLUDED.bandwidth_in_bytes;
    GET DIAGNOSTICS row_count = ROW_COUNT;
    RETURN row_count;
END;
$$ LANGUAGE plpgsql;
