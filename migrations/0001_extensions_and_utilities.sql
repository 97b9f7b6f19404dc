-- Extensions and utility functions (seed 000 §2.1, §2.3; seed 001 §3.7).
-- Defect 10: the seed's ENUM types (§2.2) were never used by any table. ScraperX keeps
-- VARCHAR + CHECK everywhere (one representation), because CHECK lists can be changed in a
-- transactional migration while ENUM values cannot be removed; the Rust enums in
-- scraperx-core mirror each CHECK list and a test compares them.

CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS "pgcrypto";
CREATE EXTENSION IF NOT EXISTS "pg_trgm";
CREATE EXTENSION IF NOT EXISTS "btree_gin";
CREATE EXTENSION IF NOT EXISTS "pg_stat_statements";

CREATE OR REPLACE FUNCTION update_modified_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION generate_api_key_prefix()
RETURNS VARCHAR(12) AS $$
BEGIN
    RETURN 'sk_' || encode(gen_random_bytes(4), 'hex');
END;
$$ LANGUAGE plpgsql;

-- IMMUTABLE so that it may be used in expressions and indexes.
CREATE OR REPLACE FUNCTION calculate_url_hash(url TEXT)
RETURNS VARCHAR(64) AS $$
    SELECT encode(digest(url, 'sha256'), 'hex');
$$ LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE;
