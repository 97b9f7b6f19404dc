-- What an organization's own auto jobs learned about a domain: the engine that got its
-- pages. Kept per organization so one tenant's jobs never change another's engine choice,
-- or its bill; `domain_intelligence` keeps the fleet-wide facts (protection seen, delays,
-- robots.txt, success rates).

CREATE TABLE organization_domain_engines (
    organization_id UUID NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    domain VARCHAR(255) NOT NULL,
    recommended_engine VARCHAR(20) NOT NULL CHECK (recommended_engine IN ('browser', 'stealth')),
    learned_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    PRIMARY KEY (organization_id, domain)
);
