-- Flags the platform sets on a job to steer it, in columns of their own: kept out of
-- `metadata`, which is the customer's free-form JSON (a customer's own "suspended" or
-- "cancel_requested" key must neither hold a job back nor cancel it).
ALTER TABLE scrape_jobs
    ADD COLUMN suspended BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT FALSE;

COMMENT ON COLUMN scrape_jobs.suspended IS 'Its batch is suspended: not dispatched, and left alone by the re-enqueue sweep';
COMMENT ON COLUMN scrape_jobs.cancel_requested IS 'Its batch was canceled while it ran: the worker stops it';
