-- System tables (seed 000 §6; seed 001 §3.6): proxy_providers, proxy_usage_logs,
-- fingerprints, domain_intelligence. Where the two seeds describe the same table with
-- different columns, the table carries the superset.

CREATE TABLE proxy_providers (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(100) NOT NULL UNIQUE,
    slug VARCHAR(50) UNIQUE,                       -- seed 001
    display_name VARCHAR(100) NOT NULL,
    api_base_url TEXT,
    auth_type VARCHAR(50) DEFAULT 'basic',
    -- Non-secret settings. Secrets live only in auth_credentials_encrypted (seed 001), sealed
    -- by the application with a key from its configuration and opened only for use.
    credentials JSONB NOT NULL DEFAULT '{}',
    auth_credentials_encrypted BYTEA,
    datacenter_endpoint TEXT,
    residential_endpoint TEXT,
    mobile_endpoint TEXT,
    isp_endpoint TEXT,
    datacenter_price_cents INTEGER,
    residential_price_cents INTEGER,
    mobile_price_cents INTEGER,
    countries JSONB DEFAULT '[]',
    supports_sessions BOOLEAN DEFAULT TRUE,
    supports_city_targeting BOOLEAN DEFAULT FALSE,
    supports_asn_targeting BOOLEAN DEFAULT FALSE,
    is_active BOOLEAN DEFAULT TRUE,
    is_healthy BOOLEAN DEFAULT TRUE,
    last_health_check_at TIMESTAMPTZ,
    health_check_error TEXT,
    avg_response_time_ms INTEGER,                  -- seed 001
    success_rate DECIMAL(5,4),                     -- seed 001
    daily_bandwidth_limit_gb DECIMAL(10,2),
    monthly_bandwidth_limit_gb DECIMAL(10,2),
    concurrent_connection_limit INTEGER,
    bandwidth_used_today_gb DECIMAL(10,4) DEFAULT 0,
    bandwidth_used_month_gb DECIMAL(10,4) DEFAULT 0,
    priority INTEGER DEFAULT 5,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT proxy_providers_valid_auth_type CHECK (auth_type IN ('none', 'basic', 'token', 'ip_whitelist'))
);

CREATE INDEX idx_proxy_providers_active ON proxy_providers(is_active, is_healthy, priority DESC);
CREATE INDEX idx_proxy_providers_countries ON proxy_providers USING GIN (countries);

CREATE TRIGGER update_proxy_providers_timestamp
    BEFORE UPDATE ON proxy_providers
    FOR EACH ROW EXECUTE FUNCTION update_modified_column();

COMMENT ON TABLE proxy_providers IS 'Proxy provider configurations';
COMMENT ON COLUMN proxy_providers.credentials IS 'Non-secret provider settings (secrets are in auth_credentials_encrypted)';
COMMENT ON COLUMN proxy_providers.auth_credentials_encrypted IS 'Encrypted API credentials (sealed by the application)';

-- Drawn in seed 000's diagram (proxy_providers ----< proxy_usage_logs) but never defined.
CREATE TABLE proxy_usage_logs (
    id BIGSERIAL PRIMARY KEY,
    provider_id UUID NOT NULL REFERENCES proxy_providers(id) ON DELETE CASCADE,
    job_id UUID,
    organization_id UUID,
    proxy_tier VARCHAR(20) NOT NULL,
    country VARCHAR(2),
    bytes_in BIGINT NOT NULL DEFAULT 0,
    bytes_out BIGINT NOT NULL DEFAULT 0,
    success BOOLEAN NOT NULL,
    response_time_ms INTEGER,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT proxy_usage_logs_valid_tier CHECK (proxy_tier IN ('datacenter', 'residential', 'mobile', 'isp'))
);

CREATE INDEX idx_proxy_usage_provider_time ON proxy_usage_logs(provider_id, created_at DESC);
CREATE INDEX idx_proxy_usage_created_brin ON proxy_usage_logs USING BRIN (created_at);

COMMENT ON TABLE proxy_usage_logs IS 'Per-request proxy bandwidth and outcome, per provider';

CREATE TABLE fingerprints (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    fingerprint_hash VARCHAR(64) NOT NULL UNIQUE,
    fingerprint_data JSONB NOT NULL,
    browser_type VARCHAR(50) NOT NULL,
    browser_version VARCHAR(20),
    os_type VARCHAR(50) NOT NULL,
    os_version VARCHAR(20),
    device_type VARCHAR(20) DEFAULT 'desktop',
    screen_width INTEGER,
    screen_height INTEGER,
    device_pixel_ratio DECIMAL(3,2),
    locale VARCHAR(10),
    timezone VARCHAR(50),
    user_agent TEXT NOT NULL,
    accept_language TEXT,
    -- seed 001 §3.6.2
    accept_headers JSONB,
    navigator_properties JSONB,
    screen_properties JSONB,
    webgl_properties JSONB,
    audio_fingerprint VARCHAR(100),
    canvas_fingerprint VARCHAR(100),
    font_list TEXT[],
    tls_fingerprint VARCHAR(100),
    http2_settings JSONB,
    is_valid BOOLEAN DEFAULT TRUE,
    validation_errors JSONB,
    usage_count BIGINT DEFAULT 0,
    last_used_at TIMESTAMPTZ,
    success_rate DECIMAL(5,4),
    source VARCHAR(50) DEFAULT 'generated',
    collected_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    expires_at TIMESTAMPTZ,
    CONSTRAINT fingerprints_valid_device CHECK (device_type IN ('desktop', 'mobile', 'tablet'))
);

CREATE INDEX idx_fingerprints_browser ON fingerprints(browser_type, os_type) WHERE is_valid = TRUE;
CREATE INDEX idx_fingerprints_locale ON fingerprints(locale) WHERE is_valid = TRUE;
CREATE INDEX idx_fingerprints_usage ON fingerprints(usage_count, success_rate DESC) WHERE is_valid = TRUE;
CREATE INDEX idx_fingerprints_device ON fingerprints(device_type) WHERE is_valid = TRUE;
CREATE INDEX idx_fingerprints_navigator ON fingerprints USING GIN (navigator_properties);

CREATE TRIGGER update_fingerprints_timestamp
    BEFORE UPDATE ON fingerprints
    FOR EACH ROW EXECUTE FUNCTION update_modified_column();

COMMENT ON TABLE fingerprints IS 'Browser fingerprint configurations for anti-detection';

CREATE TABLE domain_intelligence (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    domain VARCHAR(255) NOT NULL UNIQUE,
    protection_type VARCHAR(50),
    protection_level VARCHAR(20) DEFAULT 'unknown',
    cloudflare_detected BOOLEAN DEFAULT FALSE,
    akamai_detected BOOLEAN DEFAULT FALSE,
    datadome_detected BOOLEAN DEFAULT FALSE,
    perimeterx_detected BOOLEAN DEFAULT FALSE,
    recommended_engine VARCHAR(20) DEFAULT 'auto',
    recommended_proxy_tier VARCHAR(20) DEFAULT 'datacenter',
    requires_js_rendering BOOLEAN DEFAULT FALSE,
    requires_captcha_solving BOOLEAN DEFAULT FALSE,
    avg_response_time_ms INTEGER,
    success_rate DECIMAL(5,4),
    total_requests BIGINT DEFAULT 0,
    successful_requests BIGINT DEFAULT 0,
    detected_rate_limit INTEGER,
    recommended_delay_ms INTEGER DEFAULT 1000,
    robots_txt_crawl_delay INTEGER,
    robots_txt_cached_at TIMESTAMPTZ,
    last_analyzed_at TIMESTAMPTZ,
    analysis_version INTEGER DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT domain_intel_valid_level CHECK (
        protection_level IN ('unknown', 'none', 'basic', 'medium', 'high', 'extreme')
    ),
    CONSTRAINT domain_intel_valid_engine CHECK (recommended_engine IN ('auto', 'http', 'browser', 'stealth')),
    CONSTRAINT domain_intel_valid_tier CHECK (
        recommended_proxy_tier IN ('datacenter', 'residential', 'mobile', 'isp')
    )
);

CREATE INDEX idx_domain_intel_protection ON domain_intelligence(protection_type);
CREATE INDEX idx_domain_intel_updated ON domain_intelligence(last_analyzed_at);

CREATE TRIGGER update_domain_intelligence_timestamp
    BEFORE UPDATE ON domain_intelligence
    FOR EACH ROW EXECUTE FUNCTION update_modified_column();

COMMENT ON TABLE domain_intelligence IS 'Cached intelligence about target domains';
COMMENT ON COLUMN domain_intelligence.protection_level IS 'unknown, none, basic, medium, high, extreme';
