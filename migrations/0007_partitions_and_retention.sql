-- Partition management, retention and the keyset data migration (seed 000 §8; seed 001 §3.8,
-- §6.2, §9.3).

-- Creates the monthly partition of a range-partitioned table (job_events, usage_records)
-- that holds `p_month`, named <parent>_YYYY_MM. Rows of that month already sitting in the
-- default partition are moved into the new partition first (Postgres refuses to create a
-- partition whose range the default partition already holds rows of). Returns the
-- partition's name; a no-op when it exists.
CREATE OR REPLACE FUNCTION create_monthly_partition(p_parent REGCLASS, p_month DATE)
RETURNS TEXT AS $$
DECLARE
    parent_name TEXT := (SELECT relname FROM pg_class WHERE oid = p_parent);
    parent_schema TEXT := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_parent);
    key_column TEXT;
    month_start TIMESTAMPTZ := (date_trunc('month', p_month)::TIMESTAMP AT TIME ZONE 'UTC');
    month_end TIMESTAMPTZ := ((date_trunc('month', p_month) + INTERVAL '1 month')::TIMESTAMP AT TIME ZONE 'UTC');
    partition_name TEXT := parent_name || '_' || to_char(p_month, 'YYYY_MM');
    default_partition REGCLASS;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = p_parent AND c.relname = partition_name) THEN
        RETURN partition_name;
    END IF;
    -- Serialise concurrent creators of partitions of this table.
    PERFORM pg_advisory_xact_lock(p_parent::OID::BIGINT);
    IF EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = p_parent AND c.relname = partition_name) THEN
        RETURN partition_name;
    END IF;

    SELECT a.attname INTO key_column
    FROM pg_partitioned_table pt
    JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
    WHERE pt.partrelid = p_parent;

    SELECT i.inhrelid::REGCLASS INTO default_partition
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = p_parent AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';

    EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   parent_schema, partition_name, p_parent);
    IF default_partition IS NOT NULL THEN
        EXECUTE format(
            'WITH moved AS (DELETE FROM %s WHERE %I >= %L AND %I < %L RETURNING *)
             INSERT INTO %I.%I SELECT * FROM moved',
            default_partition, key_column, month_start, key_column, month_end,
            parent_schema, partition_name);
    END IF;
    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                   p_parent, parent_schema, partition_name, month_start, month_end);
    RETURN partition_name;
END;
$$ LANGUAGE plpgsql;

-- Makes sure the partitions from `p_months_back` months ago to `p_months_ahead` months ahead
-- of the current month exist. Returns the partitions' names.
CREATE OR REPLACE FUNCTION ensure_monthly_partitions(
    p_parent REGCLASS, p_months_back INTEGER DEFAULT 0, p_months_ahead INTEGER DEFAULT 3
) RETURNS SETOF TEXT AS $$
    SELECT create_monthly_partition(
        p_parent, (date_trunc('month', NOW() AT TIME ZONE 'UTC') + make_interval(months => m))::DATE)
    FROM generate_series(-p_months_back, p_months_ahead) AS m;
$$ LANGUAGE sql;

-- The upper bound of a range partition, read from the catalog (NULL for a default partition).
CREATE OR REPLACE FUNCTION partition_upper_bound(p_partition REGCLASS)
RETURNS TIMESTAMPTZ AS $$
    SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::TIMESTAMPTZ
    FROM pg_class c WHERE c.oid = p_partition;
$$ LANGUAGE sql STABLE;

-- Defect 8: the seed picked tables by a LIKE pattern and a string comparison of names, which
-- would drop any table that happens to match (scrape_jobs_archive sorts before
-- 'scrape_jobs_2025_..'). Partitions are taken from the catalog (pg_inherits) as children of
-- the given parent, and dropped only when their whole range ends before the cut-off. The
-- default partition is never dropped. Returns the dropped partitions' names.
CREATE OR REPLACE FUNCTION drop_old_partitions(p_parent REGCLASS, p_retain INTERVAL)
RETURNS SETOF TEXT AS $$
DECLARE
    part RECORD;
BEGIN
    FOR part IN
        SELECT i.inhrelid::REGCLASS AS rel, c.relname
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = p_parent
          AND partition_upper_bound(i.inhrelid::REGCLASS) IS NOT NULL
          AND partition_upper_bound(i.inhrelid::REGCLASS) <= NOW() - p_retain
        ORDER BY c.relname
    LOOP
        EXECUTE format('ALTER TABLE %s DETACH PARTITION %s', p_parent, part.rel);
        EXECUTE format('DROP TABLE %s', part.rel);
        PERFORM log_system_event('partition.dropped',
            jsonb_build_object('parent', p_parent::TEXT, 'partition', part.relname));
        RETURN NEXT part.relname;
    END LOOP;
END;
$$ LANGUAGE plpgsql;

-- The policy of seed 001 §6.1: job events 90 days, usage records 2 years.
CREATE OR REPLACE FUNCTION drop_old_partitions()
RETURNS SETOF TEXT AS $$
    SELECT drop_old_partitions('job_events', INTERVAL '90 days')
    UNION ALL
    SELECT drop_old_partitions('usage_records', INTERVAL '2 years');
$$ LANGUAGE sql;

-- Defect 5: retention per seed 001 §6.1, with every count taken from the statement that did
-- the work (the seed counted after deleting, so always 0) and logged to system_logs, which
-- now exists. Returns the counts.
--   jobs: finished jobs move to scrape_jobs_archive after 30 days (their results and result
--         objects go with them); the archive keeps them 1 year
--   results: 30 days          job events: 90 days
--   usage records: 2 years    system logs (audit): 7 years
CREATE OR REPLACE FUNCTION apply_retention_policies()
RETURNS JSONB AS $$
DECLARE
    jobs_archived BIGINT;
    archive_deleted BIGINT;
    results_deleted BIGINT;
    events_deleted BIGINT;
    usage_deleted BIGINT;
    logs_deleted BIGINT;
    summary JSONB;
BEGIN
    DELETE FROM job_results WHERE created_at < NOW() - INTERVAL '30 days';
    GET DIAGNOSTICS results_deleted = ROW_COUNT;

    WITH moved AS (
        DELETE FROM scrape_jobs
        WHERE created_at < NOW() - INTERVAL '30 days'
          AND status IN ('completed', 'failed', 'canceled', 'timeout')
        RETURNING *
    )
    INSERT INTO scrape_jobs_archive (id, organization_id, batch_id, url, status, engine,
                                     credits_charged, created_at, completed_at, record)
    SELECT m.id, m.organization_id, m.batch_id, m.url, m.status, m.engine,
           m.credits_charged, m.created_at, m.completed_at, to_jsonb(m)
    FROM moved m
    ON CONFLICT (id) DO NOTHING;
    GET DIAGNOSTICS jobs_archived = ROW_COUNT;

    DELETE FROM scrape_jobs_archive WHERE created_at < NOW() - INTERVAL '1 year';
    GET DIAGNOSTICS archive_deleted = ROW_COUNT;

    DELETE FROM job_events WHERE created_at < NOW() - INTERVAL '90 days';
    GET DIAGNOSTICS events_deleted = ROW_COUNT;

    DELETE FROM usage_records WHERE period_start < NOW() - INTERVAL '2 years';
    GET DIAGNOSTICS usage_deleted = ROW_COUNT;

    DELETE FROM system_logs WHERE created_at < NOW() - INTERVAL '7 years';
    GET DIAGNOSTICS logs_deleted = ROW_COUNT;

    summary := jsonb_build_object(
        'jobs_archived', jobs_archived,
        'archive_deleted', archive_deleted,
        'results_deleted', results_deleted,
        'events_deleted', events_deleted,
        'usage_deleted', usage_deleted,
        'logs_deleted', logs_deleted);
    PERFORM log_system_event('retention.applied', summary);
    RETURN summary;
END;
$$ LANGUAGE plpgsql;

-- Defect 9: the seed's data migration to a partitioned table paged with LIMIT/OFFSET inside
-- one transaction (each page rescans all rows before it, and one giant transaction holds
-- every lock and all WAL until the end). This copies in keyset batches (WHERE id > last id
-- ORDER BY id LIMIT n), committing after each batch; it resumes from the highest id already
-- in the target, so an interrupted run continues where it stopped. Must be CALLed outside an
-- explicit transaction. Both tables need an `id` column of the same, ordered type.
CREATE OR REPLACE PROCEDURE copy_table_keyset(
    p_source REGCLASS, p_target REGCLASS, p_batch_size INTEGER DEFAULT 10000
) AS $$
DECLARE
    id_type TEXT;
    last_id TEXT;
    batch_max TEXT;
    batch_rows BIGINT;
    total BIGINT := 0;
BEGIN
    SELECT format_type(a.atttypid, a.atttypmod) INTO id_type
    FROM pg_attribute a WHERE a.attrelid = p_source AND a.attname = 'id' AND NOT a.attisdropped;
    IF id_type IS NULL THEN
        RAISE EXCEPTION 'copy_table_keyset: % has no id column', p_source;
    END IF;
    EXECUTE format('SELECT max(id)::TEXT FROM %s', p_target) INTO last_id;
    LOOP
        EXECUTE format(
            'WITH batch AS (
                 SELECT * FROM %1$s WHERE ($1 IS NULL OR id > $1::%3$s) ORDER BY id LIMIT $2
             ), ins AS (
                 INSERT INTO %2$s SELECT * FROM batch
             )
             SELECT max(id)::TEXT, count(*) FROM batch',
            p_source, p_target, id_type)
        INTO batch_max, batch_rows
        USING last_id, p_batch_size;
        EXIT WHEN batch_rows = 0;
        total := total + batch_rows;
        last_id := batch_max;
        COMMIT;
        RAISE NOTICE 'copy_table_keyset: % rows copied from % to %', total, p_source, p_target;
    END LOOP;
    PERFORM log_system_event('migration.copied',
        jsonb_build_object('source', p_source::TEXT, 'target', p_target::TEXT, 'rows', total));
END;
$$ LANGUAGE plpgsql;

-- Partitions relative to the day the schema is created: last month through three months
-- ahead. The operator's maintenance task keeps creating them ahead of time.
SELECT ensure_monthly_partitions('job_events', 1, 3);
SELECT ensure_monthly_partitions('usage_records', 1, 3);
