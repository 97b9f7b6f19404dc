-- Core domain tables (seed 000 §3; seed 001 §3.3): organizations, users, api_keys.

CREATE TABLE organizations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name VARCHAR(255) NOT NULL,
    slug VARCHAR(100) UNIQUE NOT NULL,
    billing_email VARCHAR(255) NOT NULL,
    technical_email VARCHAR(255),
    plan_id VARCHAR(50) NOT NULL DEFAULT 'starter',
    subscription_status VARCHAR(20) NOT NULL DEFAULT 'trialing',
    stripe_customer_id VARCHAR(255) UNIQUE,
    stripe_subscription_id VARCHAR(255) UNIQUE,
    -- Defect 7: the balance never goes negative (the CHECK stays). Consumption past zero on a
    -- plan that allows overage (enterprise) is counted in credits_overage_used instead, and
    -- billed from there; the monthly reset clears it.
    credits_balance BIGINT NOT NULL DEFAULT 0,
    credits_overage_used BIGINT NOT NULL DEFAULT 0,
    credits_included_monthly BIGINT NOT NULL DEFAULT 100000,
    credits_overage_rate DECIMAL(10,6) DEFAULT 0.000050,
    credits_reset_at TIMESTAMPTZ,
    rate_limit_per_second INTEGER NOT NULL DEFAULT 10,
    max_concurrent_jobs INTEGER NOT NULL DEFAULT 50,
    max_batch_size INTEGER NOT NULL DEFAULT 1000,
    data_retention_days INTEGER NOT NULL DEFAULT 7,
    features JSONB NOT NULL DEFAULT '{
        "js_rendering": true,
        "residential_proxies": false,
        "mobile_proxies": false,
        "captcha_solving": false,
        "webhooks": true,
        "batch_api": true,
        "priority_queue": false,
        "dedicated_support": false
    }',
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    CONSTRAINT organizations_valid_plan CHECK (
        plan_id IN ('free', 'starter', 'growth', 'business', 'enterprise')
    ),
    CONSTRAINT organizations_valid_status CHECK (
        subscription_status IN ('trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused')
    ),
    CONSTRAINT organizations_positive_credits CHECK (credits_balance >= 0),
    CONSTRAINT organizations_positive_overage CHECK (credits_overage_used >= 0),
    CONSTRAINT organizations_positive_rate_limit CHECK (rate_limit_per_second > 0),
    CONSTRAINT organizations_positive_concurrent CHECK (max_concurrent_jobs > 0),
    CONSTRAINT organizations_positive_batch CHECK (max_batch_size > 0),
    CONSTRAINT organizations_positive_retention CHECK (data_retention_days > 0)
);

CREATE INDEX idx_organizations_slug ON organizations(slug) WHERE deleted_at IS NULL;
CREATE INDEX idx_organizations_stripe_customer ON organizations(stripe_customer_id)
    WHERE stripe_customer_id IS NOT NULL;
CREATE INDEX idx_organizations_plan ON organizations(plan_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_organizations_created ON organizations(created_at);
CREATE INDEX idx_organizations_status ON organizations(subscription_status)
    WHERE deleted_at IS NULL;

CREATE TRIGGER update_organizations_timestamp
    BEFORE UPDATE ON organizations
    FOR EACH ROW EXECUTE FUNCTION update_modified_column();

COMMENT ON TABLE organizations IS 'Customer organizations/tenants';
COMMENT ON COLUMN organizations.slug IS 'URL-safe unique identifier';
COMMENT ON COLUMN organizations.credits_balance IS 'Current credit balance; never negative (consumption past zero on overage plans is counted in credits_overage_used)';
COMMENT ON COLUMN organizations.credits_overage_used IS 'Credits consumed past a zero balance on plans that allow overage; billed, then cleared by reset_monthly_credits';
COMMENT ON COLUMN organizations.credits_reset_at IS 'When reset_monthly_credits last granted this organization its monthly credits';
COMMENT ON COLUMN organizations.features IS 'Feature flags as JSON object';

CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    email VARCHAR(255) NOT NULL,
    email_verified_at TIMESTAMPTZ,
    password_hash VARCHAR(255),
    auth_provider VARCHAR(50) DEFAULT 'email',
    auth_provider_id VARCHAR(255),
    first_name VARCHAR(100),
    last_name VARCHAR(100),
    avatar_url VARCHAR(500),
    timezone VARCHAR(50) DEFAULT 'UTC',
    locale VARCHAR(10) DEFAULT 'en-US',
    role VARCHAR(20) NOT NULL DEFAULT 'member',
    permissions JSONB DEFAULT '[]',
    mfa_enabled BOOLEAN DEFAULT FALSE,
    mfa_secret VARCHAR(255),
    mfa_backup_codes TEXT[],
    last_login_at TIMESTAMPTZ,
    last_login_ip INET,
    failed_login_attempts INTEGER DEFAULT 0,
    locked_until TIMESTAMPTZ,
    password_changed_at TIMESTAMPTZ,
    session_version INTEGER DEFAULT 1,
    preferences JSONB DEFAULT '{
        "email_notifications": true,
        "usage_alerts": true,
        "marketing_emails": false
    }',
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    CONSTRAINT users_valid_role CHECK (role IN ('owner', 'admin', 'member', 'readonly')),
    CONSTRAINT users_valid_auth_provider CHECK (
        auth_provider IN ('email', 'google', 'github', 'saml')
    ),
    CONSTRAINT users_unique_email_per_org UNIQUE (organization_id, email)
);

CREATE INDEX idx_users_org ON users(organization_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_email ON users(lower(email)) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_auth_provider ON users(auth_provider, auth_provider_id)
    WHERE auth_provider_id IS NOT NULL;
CREATE INDEX idx_users_last_login ON users(last_login_at DESC NULLS LAST);

CREATE TRIGGER update_users_timestamp
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION update_modified_column();

COMMENT ON TABLE users IS 'User accounts within organizations';
COMMENT ON COLUMN users.session_version IS 'Increment to invalidate all sessions';
COMMENT ON COLUMN users.mfa_backup_codes IS 'One-time use backup codes for MFA';

CREATE TABLE api_keys (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    created_by_user_id UUID REFERENCES users(id) ON DELETE SET NULL,
    key_prefix VARCHAR(12) NOT NULL DEFAULT generate_api_key_prefix(),
    key_hash VARCHAR(64) NOT NULL UNIQUE,
    name VARCHAR(100) NOT NULL,
    description TEXT,
    scopes JSONB NOT NULL DEFAULT '["scrape:read", "scrape:write"]',
    allowed_ips INET[],
    allowed_domains VARCHAR(255)[],
    rate_limit_override INTEGER,
    max_concurrent_override INTEGER,
    credits_limit BIGINT,
    environment VARCHAR(20) NOT NULL DEFAULT 'production',
    expires_at TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    last_used_ip INET,
    last_used_user_agent TEXT,
    usage_count BIGINT DEFAULT 0,
    is_active BOOLEAN DEFAULT TRUE,
    revoked_at TIMESTAMPTZ,
    revoked_by_user_id UUID REFERENCES users(id),
    revoke_reason VARCHAR(255),
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT api_keys_valid_environment CHECK (
        environment IN ('development', 'staging', 'production')
    ),
    CONSTRAINT api_keys_valid_scopes CHECK (jsonb_typeof(scopes) = 'array')
);

CREATE INDEX idx_api_keys_org ON api_keys(organization_id) WHERE is_active = TRUE;
CREATE INDEX idx_api_keys_prefix ON api_keys(key_prefix);
-- The UNIQUE constraint on key_hash already provides the seed's idx_api_keys_hash.
CREATE INDEX idx_api_keys_last_used ON api_keys(last_used_at DESC NULLS LAST);
CREATE INDEX idx_api_keys_expires ON api_keys(expires_at)
    WHERE expires_at IS NOT NULL AND is_active = TRUE;
-- Defect 2: the seed put NOW() in these predicates, which Postgres rejects (functions in an
-- index predicate must be IMMUTABLE). The predicate keeps the static conditions; expiry is
-- checked by the query (expires_at IS NULL OR expires_at > NOW()) against the indexed row.
CREATE INDEX idx_api_keys_auth_lookup ON api_keys(key_hash, organization_id)
    WHERE is_active = TRUE AND revoked_at IS NULL;
CREATE INDEX idx_api_keys_active ON api_keys(organization_id, key_hash)
    WHERE is_active = TRUE AND revoked_at IS NULL;

CREATE TRIGGER update_api_keys_timestamp
    BEFORE UPDATE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION update_modified_column();

COMMENT ON TABLE api_keys IS 'API keys for authentication';
COMMENT ON COLUMN api_keys.key_prefix IS 'Visible prefix for key identification (sk_xxxx)';
COMMENT ON COLUMN api_keys.key_hash IS 'SHA-256 hash of the full API key';
COMMENT ON COLUMN api_keys.scopes IS 'Array of permission scopes';
