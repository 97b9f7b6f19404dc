-- Firecrawl's `html` format and document metadata (issue 16).
--
-- The cleaned HTML (the selected content without scripts, styles, the head and comments,
-- its URLs absolute; made by the worker when a job's options ask for `html`), and the
-- page's metadata (description, language, Open Graph, twitter:* and the other meta tags,
-- favicon) under Firecrawl's names. NULL for results recorded before, or for a page that
-- is not HTML.
ALTER TABLE job_results ADD COLUMN extracted_html TEXT;
ALTER TABLE job_results ADD COLUMN extracted_metadata JSONB;
