-- Crawls (issue 15). A crawl owns a batch: its pages' jobs are ordinary scrape jobs whose
-- batch_id is the crawl's id, so they share every engine, option, credit, result, webhook
-- and the batch's cancel path. The frontier is durable: one row per URL key per crawl, so
-- a URL is scraped at most once per crawl, and whatever component restarts, the frontier
-- is where it was. States and their moves are core's `domain::crawl` (CrawlStatus,
-- PageState); the lists below are the same, and core/tests/crawls.rs compares them.

CREATE TABLE crawls (
    id UUID PRIMARY KEY,
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    api_key_id UUID REFERENCES api_keys(id) ON DELETE SET NULL,
    url TEXT NOT NULL,
    -- core's CrawlOptions and PageTemplate, as validated at creation.
    options JSONB NOT NULL,
    page JSONB NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'running',
    status_reason VARCHAR(40),
    -- Called once when the crawl ends (pages' own webhooks are their jobs').
    webhook_url TEXT,
    -- When the sitemaps were read into the frontier (NULL: not yet).
    sitemaps_read_at TIMESTAMPTZ,
    -- The earliest time the next page may be submitted (a crawl's delay).
    next_submit_at TIMESTAMPTZ,
    -- When the completion webhook was queued (NULL: not yet, or none).
    announced_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    finished_at TIMESTAMPTZ,
    CONSTRAINT crawls_valid_status CHECK (
        status IN ('running', 'paused', 'completed', 'canceled', 'failed')),
    CONSTRAINT crawls_valid_reason CHECK (status_reason IS NULL OR status_reason IN (
        'frontier_exhausted', 'limit_reached', 'insufficient_credits', 'canceled',
        'start_page_failed')),
    CONSTRAINT crawls_finished_when_final CHECK (
        (status IN ('completed', 'canceled', 'failed')) = (finished_at IS NOT NULL))
);

CREATE INDEX idx_crawls_org_created ON crawls (organization_id, created_at DESC, id DESC);
CREATE INDEX idx_crawls_active ON crawls (status) WHERE status IN ('running', 'paused');
-- Ended crawls whose webhook is still to be queued (the sweep's read).
CREATE INDEX idx_crawls_unannounced ON crawls (finished_at)
    WHERE finished_at IS NOT NULL AND announced_at IS NULL AND webhook_url IS NOT NULL;

CREATE TRIGGER update_crawls_modtime BEFORE UPDATE ON crawls
    FOR EACH ROW EXECUTE FUNCTION update_modified_column();

CREATE TABLE crawl_pages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    crawl_id UUID NOT NULL REFERENCES crawls(id) ON DELETE CASCADE,
    -- The URL as first found (fragment dropped), which is what is fetched.
    url TEXT NOT NULL,
    -- core's `crawl::normalize` of it, and its SHA-256 (URLs reach 8 KB, past what a
    -- B-tree entry may hold, so uniqueness is on the digest).
    url_key TEXT NOT NULL,
    url_key_sha256 BYTEA NOT NULL,
    depth INTEGER NOT NULL CHECK (depth >= 0),
    source VARCHAR(10) NOT NULL,
    state VARCHAR(12) NOT NULL DEFAULT 'waiting',
    skip_reason VARCHAR(20),
    job_id UUID,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT crawl_pages_one_per_url UNIQUE (crawl_id, url_key_sha256),
    CONSTRAINT crawl_pages_valid_source CHECK (source IN ('start', 'link', 'sitemap')),
    CONSTRAINT crawl_pages_valid_state CHECK (
        state IN ('waiting', 'submitted', 'done', 'skipped')),
    CONSTRAINT crawl_pages_valid_skip_reason CHECK (skip_reason IS NULL OR skip_reason IN (
        'robots_txt', 'private_address', 'duplicate', 'limit')),
    CONSTRAINT crawl_pages_skipped_has_reason CHECK (
        (state = 'skipped') = (skip_reason IS NOT NULL))
);

-- The next pages to submit, breadth first; and the counts per state.
CREATE INDEX idx_crawl_pages_state ON crawl_pages (crawl_id, state, depth, id);
CREATE INDEX idx_crawl_pages_job ON crawl_pages (job_id) WHERE job_id IS NOT NULL;
-- Submitted pages, for the sweep that expands pages a dead worker finished but did not
-- expand, and submits pages whose job was never created.
CREATE INDEX idx_crawl_pages_submitted ON crawl_pages (updated_at) WHERE state = 'submitted';

CREATE TRIGGER update_crawl_pages_modtime BEFORE UPDATE ON crawl_pages
    FOR EACH ROW EXECUTE FUNCTION update_modified_column();
