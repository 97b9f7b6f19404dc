-- Firecrawl's json format through a language model in batches and crawls (issue 16).
--
-- The model's answer for a page of a batch or crawl, asked on the first status read that
-- shows the page and kept here, so later reads (and the SDKs' polling) show the same answer
-- without asking again. NULL until then, and for every other result.
ALTER TABLE job_results ADD COLUMN llm_json JSONB;
