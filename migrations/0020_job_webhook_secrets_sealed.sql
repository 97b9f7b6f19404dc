-- A job's own webhook signing secret is sealed like a webhook's (issue 14): AES-256-GCM under
-- the API's and workers' SCRX_SECRETS_KEY, bound to its row (`scrape_jobs:<id>`), so the
-- database never holds it in the clear. `webhook_secret` stays only for rows written before;
-- the start-up re-seal (Db::reseal_secrets) moves those into this column.
ALTER TABLE scrape_jobs ADD COLUMN webhook_secret_sealed BYTEA;

-- A crawl's webhook secret, sealed and bound to the crawl's row (`crawls:<id>`): it signs the
-- crawl's end and is given to each page's job (sealed again, bound to that job's row).
ALTER TABLE crawls ADD COLUMN webhook_secret_sealed BYTEA;
