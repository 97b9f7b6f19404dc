// Firecrawl's official JS SDK (@mendable/firecrawl-js, unchanged) against ScraperX.
// Run by api/tests/firecrawl_sdk.rs with FC_API_URL, FC_API_KEY and SITE, and NODE_PATH-free:
// the SDK is imported from FC_JS_MODULES (the folder `scripts/lib/firecrawl-sdks.sh` prints).
import assert from "node:assert/strict";
import path from "node:path";
import { pathToFileURL } from "node:url";

const entry = path.join(process.env.FC_JS_MODULES, "node_modules/@mendable/firecrawl-js/dist/index.js");
const { default: Firecrawl } = await import(pathToFileURL(entry).href);
const fc = new Firecrawl({ apiKey: process.env.FC_API_KEY, apiUrl: process.env.FC_API_URL });
const site = process.env.SITE;
const summary = {};

// Scrape, in several formats at once.
const doc = await fc.scrape(`${site}/p2.html`, { formats: ["markdown", "rawHtml", "links", "images"] });
assert.match(doc.markdown, /Widget Two/);
assert.match(doc.rawHtml, /<h1>Widget Two<\/h1>/);
assert.ok(doc.links.includes(`${site}/p3.html`), JSON.stringify(doc.links));
assert.ok(doc.images.includes(`${site}/img/2.png`), JSON.stringify(doc.images));
assert.equal(doc.metadata.title, "Page 2");
assert.equal(doc.metadata.statusCode, 200);
summary.scrape = "markdown, rawHtml, links, images";

// An option ScraperX cannot honour is refused by name.
await assert.rejects(fc.scrape(`${site}/p2.html`, { formats: ["summary"] }), /summary/);

// Batch scrape, polled until done.
const urls = [4, 5].map((n) => `${site}/p${n}.html`);
const batch = await fc.batchScrape(urls, { options: { formats: ["markdown"] }, pollInterval: 1, timeout: 180 });
assert.equal(batch.status, "completed");
assert.deepEqual(batch.data.map((d) => d.metadata.sourceURL).sort(), urls.sort());
summary.batch = batch.data.length;

// Crawl, with every page's document through next links.
const crawl = await fc.crawl(`${site}/`, { limit: 6, pollInterval: 1, timeout: 240 });
assert.equal(crawl.status, "completed");
assert.equal(crawl.data.length, 6, JSON.stringify(crawl.data.map((d) => d.metadata.sourceURL)));
summary.crawl = crawl.data.length;

// Cancel a running crawl.
const started = await fc.startCrawl(`${site}/`, { limit: 50, delay: 30 });
assert.equal(await fc.cancelCrawl(started.id), true);
assert.equal((await fc.getCrawlStatus(started.id)).status, "cancelled");

// Map.
const mapped = await fc.map(`${site}/`);
const links = mapped.links.map((l) => l.url);
for (const n of [1, 2, 3, 4, 5]) assert.ok(links.includes(`${site}/p${n}.html`), JSON.stringify(links));
summary.map = links.length;

console.log(JSON.stringify(summary));
