-- Defect 11: scrape_jobs references itself (parent_job_id, retry_of_job_id, ON DELETE SET
-- NULL) with no index on either column, so every deleted job made Postgres scan the whole
-- table twice to find the rows pointing at it. Archiving a month of jobs was quadratic:
-- 2,000 jobs out of a 50,000-job table took 25 s, 1,000,000 out of 1,100,000 would take days.
-- Partial indexes (the columns are NULL on almost every row, and a NULL is never looked up)
-- make each lookup one index probe and cost nothing to rows that reference no job.
CREATE INDEX idx_jobs_parent ON scrape_jobs(parent_job_id) WHERE parent_job_id IS NOT NULL;
CREATE INDEX idx_jobs_retry_of ON scrape_jobs(retry_of_job_id) WHERE retry_of_job_id IS NOT NULL;

-- (url_hash, organization_id) is the prefix of idx_jobs_dedup (url_hash, organization_id,
-- created_at DESC), which serves every lookup it served; one index less on each insert.
DROP INDEX IF EXISTS idx_jobs_url_hash;
