-- Billing tables (seed 000 §5; seed 001 §3.5): subscriptions, usage_records, invoices.

CREATE TABLE subscriptions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    plan_id VARCHAR(50) NOT NULL,
    plan_name VARCHAR(100) NOT NULL,
    stripe_subscription_id VARCHAR(255) UNIQUE,
    stripe_price_id VARCHAR(255),
    stripe_product_id VARCHAR(255),
    billing_cycle VARCHAR(20) NOT NULL DEFAULT 'monthly',
    billing_anchor_day INTEGER,
    base_price_cents INTEGER NOT NULL,
    currency VARCHAR(3) NOT NULL DEFAULT 'USD',
    credits_included BIGINT NOT NULL,
    credits_overage_rate DECIMAL(10,6),
    status VARCHAR(20) NOT NULL DEFAULT 'active',
    current_period_start TIMESTAMPTZ NOT NULL,
    current_period_end TIMESTAMPTZ NOT NULL,
    trial_start TIMESTAMPTZ,
    trial_end TIMESTAMPTZ,
    canceled_at TIMESTAMPTZ,
    cancel_at_period_end BOOLEAN DEFAULT FALSE,
    ended_at TIMESTAMPTZ,
    default_payment_method_id VARCHAR(255),
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT subscriptions_valid_plan CHECK (
        plan_id IN ('free', 'starter', 'growth', 'business', 'enterprise')
    ),
    CONSTRAINT subscriptions_valid_cycle CHECK (billing_cycle IN ('monthly', 'yearly')),
    CONSTRAINT subscriptions_valid_status CHECK (
        status IN ('trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused')
    ),
    CONSTRAINT subscriptions_valid_anchor CHECK (billing_anchor_day BETWEEN 1 AND 28),
    CONSTRAINT subscriptions_valid_period CHECK (current_period_end > current_period_start)
);

CREATE INDEX idx_subscriptions_org ON subscriptions(organization_id);
-- The UNIQUE constraint on stripe_subscription_id already indexes it (seed's idx_subscriptions_stripe).
CREATE INDEX idx_subscriptions_period_end ON subscriptions(current_period_end);
CREATE INDEX idx_subscriptions_status ON subscriptions(status) WHERE status = 'active';

CREATE TRIGGER update_subscriptions_timestamp
    BEFORE UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION update_modified_column();

COMMENT ON TABLE subscriptions IS 'Customer subscription records';

-- Range-partitioned by month on period_start (seed 000 §8.2). The primary key and the
-- uniqueness of (organization, period, granularity) both contain the partition key.
CREATE TABLE usage_records (
    id BIGSERIAL NOT NULL,
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    subscription_id UUID REFERENCES subscriptions(id) ON DELETE SET NULL,
    period_start TIMESTAMPTZ NOT NULL,
    period_end TIMESTAMPTZ NOT NULL,
    granularity VARCHAR(20) NOT NULL DEFAULT 'daily',
    total_requests BIGINT NOT NULL DEFAULT 0,
    successful_requests BIGINT NOT NULL DEFAULT 0,
    failed_requests BIGINT NOT NULL DEFAULT 0,
    credits_used BIGINT NOT NULL DEFAULT 0,
    credits_included_used BIGINT NOT NULL DEFAULT 0,
    credits_overage_used BIGINT NOT NULL DEFAULT 0,
    http_requests BIGINT DEFAULT 0,
    browser_requests BIGINT DEFAULT 0,
    stealth_requests BIGINT DEFAULT 0,
    datacenter_requests BIGINT DEFAULT 0,
    residential_requests BIGINT DEFAULT 0,
    mobile_requests BIGINT DEFAULT 0,
    isp_requests BIGINT DEFAULT 0,
    captcha_solves BIGINT DEFAULT 0,
    screenshots_taken BIGINT DEFAULT 0,
    pdfs_generated BIGINT DEFAULT 0,
    bandwidth_in_bytes BIGINT DEFAULT 0,
    bandwidth_out_bytes BIGINT DEFAULT 0,
    proxy_cost_cents INTEGER DEFAULT 0,
    captcha_cost_cents INTEGER DEFAULT 0,
    overage_amount_cents INTEGER DEFAULT 0,
    stripe_usage_record_id VARCHAR(255),
    reported_to_stripe_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (id, period_start),
    CONSTRAINT usage_records_unique_org_period UNIQUE (organization_id, period_start, granularity),
    CONSTRAINT usage_records_valid_granularity CHECK (granularity IN ('hourly', 'daily', 'monthly')),
    CONSTRAINT usage_records_valid_period CHECK (period_end > period_start)
) PARTITION BY RANGE (period_start);

CREATE TABLE usage_records_default PARTITION OF usage_records DEFAULT;

CREATE INDEX idx_usage_org_period ON usage_records(organization_id, period_start DESC);
CREATE INDEX idx_usage_subscription ON usage_records(subscription_id, period_start DESC);
CREATE INDEX idx_usage_unreported ON usage_records(organization_id)
    WHERE reported_to_stripe_at IS NULL AND credits_overage_used > 0;
CREATE INDEX idx_usage_period_brin ON usage_records USING BRIN (period_start);

CREATE TRIGGER update_usage_records_timestamp
    BEFORE UPDATE ON usage_records
    FOR EACH ROW EXECUTE FUNCTION update_modified_column();

COMMENT ON TABLE usage_records IS 'Aggregated usage metrics by time period';
COMMENT ON COLUMN usage_records.granularity IS 'Time granularity: hourly, daily, monthly';

-- Defect 3: invoice numbers come from a per-month counter row, incremented with an upsert
-- that takes a row lock, so concurrent callers get distinct consecutive numbers.
CREATE TABLE invoice_number_counters (
    year_month CHAR(6) PRIMARY KEY,
    last_value INTEGER NOT NULL
);

CREATE OR REPLACE FUNCTION generate_invoice_number()
RETURNS VARCHAR(50) AS $$
DECLARE
    ym CHAR(6) := to_char(NOW() AT TIME ZONE 'UTC', 'YYYYMM');
    next_value INTEGER;
BEGIN
    INSERT INTO invoice_number_counters AS c (year_month, last_value)
    VALUES (ym, 1)
    ON CONFLICT (year_month) DO UPDATE SET last_value = c.last_value + 1
    RETURNING c.last_value INTO next_value;
    RETURN 'INV-' || ym || '-' || LPAD(next_value::TEXT, 5, '0');
END;
$$ LANGUAGE plpgsql;

CREATE TABLE invoices (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations(id),
    subscription_id UUID REFERENCES subscriptions(id),
    stripe_invoice_id VARCHAR(255) UNIQUE,
    stripe_payment_intent_id VARCHAR(255),
    stripe_charge_id VARCHAR(255),
    invoice_number VARCHAR(50) UNIQUE NOT NULL DEFAULT generate_invoice_number(),
    status VARCHAR(20) NOT NULL DEFAULT 'draft',
    subtotal_cents INTEGER NOT NULL,
    tax_cents INTEGER DEFAULT 0,
    tax_rate DECIMAL(5,4) DEFAULT 0,
    discount_cents INTEGER DEFAULT 0,
    total_cents INTEGER NOT NULL,
    amount_paid_cents INTEGER DEFAULT 0,
    amount_due_cents INTEGER NOT NULL,
    currency VARCHAR(3) NOT NULL DEFAULT 'USD',
    line_items JSONB NOT NULL DEFAULT '[]',
    period_start TIMESTAMPTZ NOT NULL,
    period_end TIMESTAMPTZ NOT NULL,
    -- seed 001 names these invoice_date and due_date
    issued_at TIMESTAMPTZ,
    due_at TIMESTAMPTZ,
    paid_at TIMESTAMPTZ,
    voided_at TIMESTAMPTZ,
    billing_name VARCHAR(255),
    billing_email VARCHAR(255),
    billing_address JSONB,
    tax_id VARCHAR(100),
    pdf_minio_bucket VARCHAR(100),
    pdf_minio_key VARCHAR(500),
    pdf_url VARCHAR(500),             -- seed 001
    hosted_invoice_url VARCHAR(500),  -- seed 001
    notes TEXT,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    CONSTRAINT invoices_valid_status CHECK (
        status IN ('draft', 'open', 'paid', 'void', 'uncollectible')
    )
);

CREATE INDEX idx_invoices_org ON invoices(organization_id, created_at DESC);
CREATE INDEX idx_invoices_stripe ON invoices(stripe_invoice_id) WHERE stripe_invoice_id IS NOT NULL;
CREATE INDEX idx_invoices_status ON invoices(status, due_at) WHERE status IN ('open', 'draft');
-- The UNIQUE constraint on invoice_number already indexes it (seed's idx_invoices_number).

CREATE TRIGGER update_invoices_timestamp
    BEFORE UPDATE ON invoices
    FOR EACH ROW EXECUTE FUNCTION update_modified_column();

COMMENT ON TABLE invoices IS 'Customer invoices and billing records';
