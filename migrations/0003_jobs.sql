-- Operational tables (seed 000 §4; seed 001 §3.4): scrape_jobs, job_results, job_events,
-- webhooks, plus the two tables the seeds use but never define: scrape_jobs_archive and
-- system_logs (defect 5).

CREATE TABLE scrape_jobs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id),
    api_key_id UUID REFERENCES api_keys(id) ON DELETE SET NULL,
    batch_id UUID,
    parent_job_id UUID REFERENCES scrape_jobs(id) ON DELETE SET NULL,
    retry_of_job_id UUID REFERENCES scrape_jobs(id) ON DELETE SET NULL,
    url TEXT NOT NULL,
    url_hash VARCHAR(64) NOT NULL,
    method VARCHAR(10) NOT NULL DEFAULT 'GET',
    headers JSONB DEFAULT '{}',
    body TEXT,
    engine VARCHAR(20) NOT NULL DEFAULT 'auto',
    options JSONB NOT NULL DEFAULT '{
        "render_js": false,
        "wait_for": null,
        "wait_time": 0,
        "timeout": 30000,
        "screenshot": false,
        "pdf": false,
        "extract": null
    }',
    -- seed 001 calls this column proxy_type; seed 000's proxy_tier is kept.
    proxy_tier VARCHAR(20) DEFAULT 'datacenter',
    proxy_country VARCHAR(2),
    proxy_city VARCHAR(100),
    proxy_provider VARCHAR(50),
    proxy_session_id VARCHAR(100),
    fingerprint_id UUID,
    user_agent TEXT,
    status VARCHAR(20) NOT NULL DEFAULT 'pending',
    priority INTEGER NOT NULL DEFAULT 5,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 3,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    queued_at TIMESTAMPTZ,
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ,
    timeout_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,                    -- seed 001
    worker_id VARCHAR(100),
    worker_region VARCHAR(20),
    queue_name VARCHAR(50),
    result_id UUID,
    credits_estimated BIGINT DEFAULT 1,
    credits_charged BIGINT DEFAULT 0,
    credit_multiplier DECIMAL(5,2) DEFAULT 1.0, -- seed 001
    credit_breakdown JSONB DEFAULT '{}',
    credits_settled_at TIMESTAMPTZ,            -- set once: settlement is never applied twice
    webhook_url TEXT,
    webhook_secret VARCHAR(255),
    webhook_sent_at TIMESTAMPTZ,
    webhook_attempts INTEGER DEFAULT 0,
    webhook_last_error TEXT,
    error_code VARCHAR(50),
    error_message TEXT,
    error_details JSONB,
    client_reference VARCHAR(255),
    idempotency_key VARCHAR(255),
    metadata JSONB DEFAULT '{}',
    CONSTRAINT scrape_jobs_valid_status CHECK (
        status IN ('pending', 'queued', 'running', 'completed', 'failed', 'canceled', 'timeout')
    ),
    CONSTRAINT scrape_jobs_valid_engine CHECK (engine IN ('auto', 'http', 'browser', 'stealth')),
    CONSTRAINT scrape_jobs_valid_proxy_tier CHECK (
        proxy_tier IN ('datacenter', 'residential', 'mobile', 'isp')
    ),
    CONSTRAINT scrape_jobs_valid_method CHECK (
        method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS')
    ),
    CONSTRAINT scrape_jobs_valid_priority CHECK (priority BETWEEN 1 AND 10),
    CONSTRAINT scrape_jobs_valid_attempts CHECK (attempts >= 0 AND max_attempts >= 1),
    CONSTRAINT scrape_jobs_nonnegative_credits CHECK (
        credits_estimated >= 0 AND credits_charged >= 0
    )
);

CREATE INDEX idx_jobs_org_status ON scrape_jobs(organization_id, status);
-- (organization_id, created_at DESC, id DESC) serves keyset pagination of job lists.
CREATE INDEX idx_jobs_org_created ON scrape_jobs(organization_id, created_at DESC, id DESC);
CREATE INDEX idx_jobs_batch ON scrape_jobs(batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX idx_jobs_url_hash ON scrape_jobs(url_hash, organization_id);
CREATE INDEX idx_jobs_client_ref ON scrape_jobs(organization_id, client_reference)
    WHERE client_reference IS NOT NULL;
-- UNIQUE (the seed's index was not): replaying an idempotency key can never create a second job.
CREATE UNIQUE INDEX idx_jobs_idempotency ON scrape_jobs(organization_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX idx_jobs_queue ON scrape_jobs(status, priority DESC, created_at)
    WHERE status IN ('pending', 'queued');
CREATE INDEX idx_jobs_webhook_pending ON scrape_jobs(id)
    WHERE status = 'completed' AND webhook_url IS NOT NULL AND webhook_sent_at IS NULL;
CREATE INDEX idx_jobs_timeout ON scrape_jobs(timeout_at)
    WHERE status = 'running' AND timeout_at IS NOT NULL;
CREATE INDEX idx_jobs_options ON scrape_jobs USING GIN (options jsonb_path_ops);
-- seed 001 §8.1 query-pattern indexes
CREATE INDEX idx_jobs_org_pending ON scrape_jobs(organization_id, created_at DESC)
    WHERE status IN ('pending', 'queued');
CREATE INDEX idx_jobs_dequeue ON scrape_jobs(status, priority DESC, created_at)
    WHERE status = 'pending';
CREATE INDEX idx_jobs_dedup ON scrape_jobs(url_hash, organization_id, created_at DESC);
CREATE INDEX idx_jobs_webhook_completed ON scrape_jobs(completed_at DESC)
    WHERE webhook_url IS NOT NULL AND webhook_sent_at IS NULL;
-- seed 001 used options->>'jsRendering'; the options document's key is render_js.
CREATE INDEX idx_jobs_js_rendering ON scrape_jobs((options->>'render_js'))
    WHERE options->>'render_js' = 'true';
CREATE INDEX idx_jobs_created_brin ON scrape_jobs USING BRIN (created_at);
ALTER TABLE scrape_jobs SET (
    autovacuum_vacuum_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02
);

CREATE OR REPLACE FUNCTION set_url_hash()
RETURNS TRIGGER AS $$
BEGIN
    NEW.url_hash = calculate_url_hash(NEW.url);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER scrape_jobs_set_url_hash
    BEFORE INSERT OR UPDATE OF url ON scrape_jobs
    FOR EACH ROW EXECUTE FUNCTION set_url_hash();

-- Defect 6: one job state machine, the same as scraperx_core::domain::JobStatus.
--   pending  -> queued | canceled | failed
--   queued   -> running | canceled | failed
--   running  -> completed | failed | timeout | canceled | queued (lease lost or worker drained)
--   failed   -> queued  (retry, only while attempts < max_attempts)
--   timeout  -> queued  (retry, only while attempts < max_attempts)
--   completed, canceled: terminal
CREATE OR REPLACE FUNCTION job_status_transition_allowed(
    from_status TEXT, to_status TEXT, attempts INTEGER, max_attempts INTEGER
) RETURNS BOOLEAN AS $$
    SELECT CASE from_status
        WHEN 'pending' THEN to_status IN ('queued', 'canceled', 'failed')
        WHEN 'queued'  THEN to_status IN ('running', 'canceled', 'failed')
        WHEN 'running' THEN to_status IN ('completed', 'failed', 'timeout', 'canceled', 'queued')
        WHEN 'failed'  THEN to_status = 'queued' AND attempts < max_attempts
        WHEN 'timeout' THEN to_status = 'queued' AND attempts < max_attempts
        ELSE FALSE
    END;
$$ LANGUAGE sql IMMUTABLE PARALLEL SAFE;

CREATE OR REPLACE FUNCTION validate_job_status_transition()
RETURNS TRIGGER AS $$
BEGIN
    IF NOT job_status_transition_allowed(OLD.status, NEW.status, OLD.attempts, OLD.max_attempts) THEN
        RAISE EXCEPTION 'Invalid job status transition from % to % (attempt % of %)',
            OLD.status, NEW.status, OLD.attempts, OLD.max_attempts
            USING ERRCODE = 'check_violation', CONSTRAINT = 'scrape_jobs_status_transition';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER validate_job_status
    BEFORE UPDATE OF status ON scrape_jobs
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION validate_job_status_transition();

COMMENT ON TABLE scrape_jobs IS 'Scraping job requests and their state';
COMMENT ON COLUMN scrape_jobs.url_hash IS 'SHA-256 hash for deduplication';
COMMENT ON COLUMN scrape_jobs.priority IS 'Queue priority 1-10 (10 highest)';
COMMENT ON COLUMN scrape_jobs.credit_breakdown IS 'JSON showing credit calculation';
COMMENT ON COLUMN scrape_jobs.credits_estimated IS 'Credits reserved at submission';
COMMENT ON COLUMN scrape_jobs.credits_charged IS 'Credits finally charged, set at settlement';

CREATE TABLE job_results (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id UUID NOT NULL REFERENCES scrape_jobs(id) ON DELETE CASCADE,
    organization_id UUID NOT NULL,
    status_code INTEGER,
    status_text VARCHAR(100),
    headers JSONB,
    cookies JSONB,
    content_type VARCHAR(255),
    content_length BIGINT,
    content_encoding VARCHAR(50),
    final_url TEXT,
    redirect_count INTEGER DEFAULT 0,
    content_storage_type VARCHAR(20) NOT NULL DEFAULT 'inline',
    content_inline TEXT,
    content_minio_bucket VARCHAR(100),
    content_minio_key VARCHAR(500),
    content_hash VARCHAR(64),
    content_compressed BOOLEAN DEFAULT FALSE,
    extracted_title TEXT,
    extracted_text TEXT,
    extracted_links JSONB,
    extracted_images JSONB,
    extracted_data JSONB,
    extracted_markdown TEXT,
    screenshot_minio_bucket VARCHAR(100),
    screenshot_minio_key VARCHAR(500),
    screenshot_thumbnail_key VARCHAR(500),
    screenshot_width INTEGER,
    screenshot_height INTEGER,
    screenshot_format VARCHAR(10) DEFAULT 'png',
    pdf_minio_bucket VARCHAR(100),
    pdf_minio_key VARCHAR(500),
    pdf_page_count INTEGER,
    dns_time_ms INTEGER,
    connect_time_ms INTEGER,
    tls_time_ms INTEGER,
    ttfb_ms INTEGER,
    download_time_ms INTEGER,
    render_time_ms INTEGER,
    total_time_ms INTEGER,
    detection_score DECIMAL(5,4),
    protection_detected VARCHAR(50),
    captcha_encountered BOOLEAN DEFAULT FALSE,
    captcha_type VARCHAR(50),
    captcha_solved BOOLEAN DEFAULT FALSE,
    captcha_solve_time_ms INTEGER,
    proxy_ip INET,
    proxy_country VARCHAR(2),
    proxy_provider VARCHAR(50),
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMPTZ,
    CONSTRAINT job_results_valid_storage CHECK (content_storage_type IN ('inline', 'minio', 'none')),
    CONSTRAINT job_results_valid_detection_score CHECK (detection_score BETWEEN 0 AND 1)
);

CREATE UNIQUE INDEX idx_results_job ON job_results(job_id);
CREATE INDEX idx_results_org_created ON job_results(organization_id, created_at DESC);
CREATE INDEX idx_results_content_hash ON job_results(content_hash) WHERE content_hash IS NOT NULL;
CREATE INDEX idx_results_expires ON job_results(expires_at) WHERE expires_at IS NOT NULL;

CREATE OR REPLACE FUNCTION set_result_expiry()
RETURNS TRIGGER AS $$
DECLARE
    retention_days INTEGER;
BEGIN
    IF NEW.expires_at IS NULL THEN
        SELECT data_retention_days INTO retention_days
        FROM organizations WHERE id = NEW.organization_id;
        NEW.expires_at = NOW() + make_interval(days => COALESCE(retention_days, 7));
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER job_results_set_expiry
    BEFORE INSERT ON job_results
    FOR EACH ROW EXECUTE FUNCTION set_result_expiry();

COMMENT ON TABLE job_results IS 'Scraping job results and captured content';
COMMENT ON COLUMN job_results.content_storage_type IS 'Where content is stored: inline (<1MB) or minio';
COMMENT ON COLUMN job_results.detection_score IS 'Bot detection score 0-1 (lower is better)';

-- Defect 1: a partitioned table's primary key must contain the partition key, so the key is
-- (id, created_at); id stays a BIGSERIAL and unique in practice.
-- No foreign key to scrape_jobs: job_events is the audit log and must outlive the job row,
-- which retention archives after 30 days while events are kept 90 days (seed 001 §6.1).
CREATE TABLE job_events (
    id BIGSERIAL NOT NULL,
    job_id UUID NOT NULL,
    organization_id UUID NOT NULL,
    event_type VARCHAR(50) NOT NULL,
    event_data JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    duration_ms INTEGER,
    worker_id VARCHAR(100),
    worker_region VARCHAR(20),
    PRIMARY KEY (id, created_at),
    CONSTRAINT job_events_valid_type CHECK (
        event_type IN (
            'job.created', 'job.queued', 'job.started', 'job.engine_selected',
            'job.proxy_assigned', 'job.fingerprint_applied', 'job.request_sent',
            'job.response_received', 'job.content_extracted', 'job.screenshot_taken',
            'job.captcha_detected', 'job.captcha_solving', 'job.captcha_solved',
            'job.captcha_failed', 'job.retry_scheduled', 'job.escalated',
            'job.completed', 'job.failed', 'job.timeout', 'job.canceled',
            'webhook.queued', 'webhook.sent', 'webhook.failed'
        )
    )
) PARTITION BY RANGE (created_at);

CREATE TABLE job_events_default PARTITION OF job_events DEFAULT;

CREATE INDEX idx_job_events_job_time ON job_events(job_id, created_at);
CREATE INDEX idx_job_events_org_time ON job_events(organization_id, created_at DESC);
CREATE INDEX idx_job_events_type ON job_events(event_type, created_at DESC);
CREATE INDEX idx_job_events_created_brin ON job_events USING BRIN (created_at);

COMMENT ON TABLE job_events IS 'Audit log of job lifecycle events';

CREATE TABLE webhooks (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    created_by_user_id UUID REFERENCES users(id) ON DELETE SET NULL,
    name VARCHAR(100) NOT NULL,
    url TEXT NOT NULL,
    secret VARCHAR(255) NOT NULL,
    events JSONB NOT NULL DEFAULT '["job.completed", "job.failed"]',
    api_key_ids UUID[],
    is_active BOOLEAN DEFAULT TRUE,
    timeout_ms INTEGER DEFAULT 30000,
    retry_count INTEGER DEFAULT 3,
    last_triggered_at TIMESTAMPTZ,
    last_success_at TIMESTAMPTZ,
    last_failure_at TIMESTAMPTZ,
    failure_count INTEGER DEFAULT 0,
    consecutive_failures INTEGER DEFAULT 0,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT webhooks_valid_timeout CHECK (timeout_ms BETWEEN 1000 AND 120000),
    CONSTRAINT webhooks_valid_retry CHECK (retry_count BETWEEN 0 AND 10),
    CONSTRAINT webhooks_valid_events CHECK (jsonb_typeof(events) = 'array')
);

CREATE INDEX idx_webhooks_org ON webhooks(organization_id) WHERE is_active = TRUE;
CREATE INDEX idx_webhooks_failures ON webhooks(consecutive_failures DESC)
    WHERE is_active = TRUE AND consecutive_failures > 0;

CREATE TRIGGER update_webhooks_timestamp
    BEFORE UPDATE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION update_modified_column();

COMMENT ON TABLE webhooks IS 'Webhook endpoint configurations';

-- Defect 5: the cold tier for jobs, never defined by the seeds. The row is kept whole as JSONB
-- (so the archive survives later column changes of scrape_jobs), with the columns that
-- queries and retention need pulled out.
CREATE TABLE scrape_jobs_archive (
    id UUID PRIMARY KEY,
    organization_id UUID NOT NULL,
    batch_id UUID,
    url TEXT NOT NULL,
    status VARCHAR(20) NOT NULL,
    engine VARCHAR(20) NOT NULL,
    credits_charged BIGINT,
    created_at TIMESTAMPTZ NOT NULL,
    completed_at TIMESTAMPTZ,
    archived_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    record JSONB NOT NULL
);

CREATE INDEX idx_jobs_archive_org_created ON scrape_jobs_archive(organization_id, created_at DESC);
CREATE INDEX idx_jobs_archive_batch ON scrape_jobs_archive(batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX idx_jobs_archive_created_brin ON scrape_jobs_archive USING BRIN (created_at);

COMMENT ON TABLE scrape_jobs_archive IS 'Cold storage of finished jobs older than 30 days; kept 1 year';

CREATE TABLE system_logs (
    id BIGSERIAL PRIMARY KEY,
    level VARCHAR(10) NOT NULL DEFAULT 'info',
    event_type VARCHAR(100) NOT NULL,
    message TEXT,
    event_data JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT system_logs_valid_level CHECK (level IN ('debug', 'info', 'warn', 'error'))
);

CREATE INDEX idx_system_logs_type ON system_logs(event_type, created_at DESC);
CREATE INDEX idx_system_logs_created_brin ON system_logs USING BRIN (created_at);

COMMENT ON TABLE system_logs IS 'Audit log of system maintenance (cleanup, retention, partitions); kept 7 years';
