-- A deleted result's action screenshots and their thumbnails go through the deletion outbox
-- too (issue 16): `enqueue_result_object_deletions` (0006) enqueued only the content,
-- screenshot, thumbnail and PDF columns, so the objects named in `action_outputs` (0017)
-- were left in the screenshots bucket when retention deleted their row.
CREATE OR REPLACE FUNCTION enqueue_result_object_deletions()
RETURNS TRIGGER AS $$
BEGIN
    INSERT INTO object_deletions (bucket, object_key, reason)
    SELECT b, k, 'job_result_deleted'
    FROM (VALUES
        (OLD.content_minio_bucket, OLD.content_minio_key),
        (OLD.screenshot_minio_bucket, OLD.screenshot_minio_key),
        (OLD.screenshot_minio_bucket, OLD.screenshot_thumbnail_key),
        (OLD.pdf_minio_bucket, OLD.pdf_minio_key)
    ) AS v(b, k)
    WHERE b IS NOT NULL AND k IS NOT NULL;
    INSERT INTO object_deletions (bucket, object_key, reason)
    SELECT 'scrx-screenshots', k, 'job_result_deleted'
    FROM jsonb_array_elements(COALESCE(OLD.action_outputs -> 'screenshots', '[]'::jsonb)) AS s,
         LATERAL (VALUES (s ->> 'key'), (s ->> 'thumbnail_key')) AS v(k)
    WHERE k IS NOT NULL;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
