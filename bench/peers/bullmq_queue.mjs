// BullMQ's side of comparison (b), on the same Redis (REDIS_URL) and the same steps as
// bench-queue: single enqueue at concurrency 1 and 100, bulk enqueue (addBulk, 1,000 a
// call), dequeue + ack of a filled queue by a Worker at concurrency 1 and 100 (each job
// removed on completion, as an ack removes ours), and enqueue-to-start latency with jobs
// added one every 2 ms. Run from the folder bullmq is installed in (bench/install-peers.sh).
import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";

// bullmq is resolved from the working folder (the install), not from this file's.
const require = createRequire(`${process.cwd()}/`);
const { Queue, Worker } = require("bullmq");
const version = require("bullmq/package.json").version;
const SIDE = `peer: BullMQ ${version}`;
const url = new URL(process.env.REDIS_URL || "redis://127.0.0.1:6379");
const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
const N = Number(process.env.BENCH_QUEUE_JOBS || 20000);
const opts = { removeOnComplete: true, removeOnFail: true };

function result(measure, value, unit) {
  console.log(`RESULT\tqueue\t${measure}\t${SIDE}\t${value.toFixed(3)}\t${unit}`);
}
const fresh = () => new Queue(`bench-${randomUUID()}`, { connection });
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function enqueueSingle(n, c) {
  const q = fresh();
  await q.waitUntilReady();
  const started = now();
  await Promise.all(Array.from({ length: c }, async () => {
    for (let i = 0; i < n / c; i++) await q.add("job", { job_id: randomUUID() }, opts);
  }));
  result(`enqueue single, c=${c}`, n / ((now() - started) / 1000), "jobs/s");
  await q.obliterate({ force: true });
  await q.close();
}

async function fill(q, n) {
  for (let i = 0; i < n; i += 1000) {
    const jobs = Array.from({ length: Math.min(1000, n - i) }, () => ({ name: "job", data: { job_id: randomUUID() }, opts }));
    await q.addBulk(jobs);
  }
}

async function enqueueBulk(n) {
  const q = fresh();
  await q.waitUntilReady();
  const started = now();
  await fill(q, n);
  result("enqueue bulk (1,000 a call)", n / ((now() - started) / 1000), "jobs/s");
  await q.obliterate({ force: true });
  await q.close();
}

async function dequeueAck(n, c) {
  const q = fresh();
  await fill(q, n);
  let done = 0;
  let finish;
  const all = new Promise((r) => (finish = r));
  const started = now();
  const w = new Worker(q.name, async () => {
    if (++done === n) finish();
  }, { connection, concurrency: c });
  await all;
  result(`dequeue + ack, c=${c}`, n / ((now() - started) / 1000), "jobs/s");
  await w.close();
  await q.obliterate({ force: true });
  await q.close();
}

async function latency(n, c) {
  const q = fresh();
  await q.waitUntilReady();
  const waits = [];
  let finish;
  const all = new Promise((r) => (finish = r));
  const w = new Worker(q.name, async (job) => {
    waits.push(now() - job.data.sent);
    if (waits.length === n) finish();
  }, { connection, concurrency: c });
  await w.waitUntilReady();
  await sleep(200);
  for (let i = 0; i < n; i++) {
    const due = now() + 2;
    await q.add("job", { sent: now() }, opts);
    const left = due - now();
    if (left > 0) await sleep(left);
  }
  await all;
  waits.sort((a, b) => a - b);
  const pct = (p) => waits[Math.min(waits.length, Math.max(1, Math.ceil(waits.length * p))) - 1];
  result(`enqueue-to-start, c=${c}, p50`, pct(0.5), "ms");
  result(`enqueue-to-start, c=${c}, p99`, pct(0.99), "ms");
  await w.close();
  await q.obliterate({ force: true });
  await q.close();
}

await enqueueSingle(N / 4, 1);
await enqueueSingle(N, 100);
await enqueueBulk(5 * N);
await dequeueAck(N / 4, 1);
await dequeueAck(N, 100);
await latency(1000, 1);
await latency(1000, 100);
process.exit(0);
