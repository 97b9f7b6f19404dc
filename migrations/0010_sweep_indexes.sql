-- The re-enqueue sweep (core/src/sweep.rs, run by the workers) reads the jobs a queue should
-- hold, queued ones by queued_at and running ones by started_at, oldest first, in keyset
-- pages. These partial indexes hold only those jobs: each page is an index range scan
-- however many finished jobs the table keeps, so a backlog of 100,000 pages back in seconds.
CREATE INDEX idx_jobs_sweep_queued ON scrape_jobs (queued_at, id)
    WHERE status = 'queued' AND NOT suspended;
CREATE INDEX idx_jobs_sweep_running ON scrape_jobs (started_at, id)
    WHERE status = 'running';
