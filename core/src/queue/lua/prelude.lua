-- Shared by every queue script. KEYS (all under one hash tag, so one cluster slot):
--   1 wait (zset: priority-then-FIFO score)   2 delayed (zset: ready-at ms)
--   3 active (zset: lease deadline ms)         4 jobs (hash: id -> payload)
--   5 prio (hash: id -> priority 1..10)        6 lease (hash: id -> lease token)
--   7 seq (counter)                            8 deliveries (hash: id -> times leased)
--   9 owners (hash: id -> worker holding it)  10 alive (zset: worker -> liveness deadline ms)
--  11 intact (string: set by the sweep; gone when Redis lost the queue)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Higher priority first, then first in, first out. Formatted with %.0f: Lua's default
-- number-to-string keeps only 14 digits.
local function to_wait(id)
  local p = tonumber(redis.call('HGET', KEYS[5], id) or '5')
  local seq = redis.call('INCR', KEYS[7])
  redis.call('ZADD', KEYS[1], string.format('%.0f', (10 - p) * 1e12 + seq), id)
end

-- Back to waiting ahead of every job that waits at its priority, after those put back the
-- same way before it: a job taken from a dead worker (or a lapsed lease) was started before
-- them, so it does not queue behind the whole backlog again. Its scores sit half a band
-- below the priority's FIFO scores (the counter never reaches 5e11).
local function to_front(id)
  local p = tonumber(redis.call('HGET', KEYS[5], id) or '5')
  local seq = redis.call('INCR', KEYS[7])
  redis.call('ZADD', KEYS[1], string.format('%.0f', (10 - p) * 1e12 - 5e11 + seq), id)
end

-- Waiting now, or delayed until `delay_ms` from now.
local function schedule(id, delay_ms)
  if delay_ms > 0 then
    redis.call('ZADD', KEYS[2], string.format('%.0f', now + delay_ms), id)
  else
    to_wait(id)
  end
end

-- Queues a job unless the queue holds it already (waiting, delayed or leased): a job is
-- never in two places. True when added.
local function add(id, payload, priority, delay_ms)
  if redis.call('HEXISTS', KEYS[4], id) == 1 then return false end
  redis.call('HSET', KEYS[4], id, payload)
  redis.call('HSET', KEYS[5], id, priority)
  schedule(id, delay_ms)
  return true
end

-- Ends a lease (the job is no longer in flight).
local function release(id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[6], id)
  redis.call('HDEL', KEYS[9], id)
end

-- Drops what the queue keeps about a job that has left it.
local function forget(id)
  redis.call('HDEL', KEYS[4], id)
  redis.call('HDEL', KEYS[5], id)
  redis.call('HDEL', KEYS[8], id)
end

-- The worker `owner` is alive for `alive_ms` more.
local function refresh_alive(owner, alive_ms)
  redis.call('ZADD', KEYS[10], string.format('%.0f', now + alive_ms), owner)
end

-- Leases of workers whose liveness lapsed go back to waiting, before their deadline. The
-- owners hash is read only when some worker has lapsed (rare), so a dequeue stays cheap.
local function reclaim_lapsed_owners()
  local lapsed = redis.call('ZRANGEBYSCORE', KEYS[10], '-inf', now, 'LIMIT', 0, 100)
  if #lapsed == 0 then return 0 end
  local gone = {}
  for _, w in ipairs(lapsed) do
    gone[w] = true
    redis.call('ZREM', KEYS[10], w)
  end
  local held = redis.call('HGETALL', KEYS[9])
  local n = 0
  for i = 1, #held, 2 do
    if gone[held[i + 1]] then
      release(held[i])
      to_front(held[i])
      n = n + 1
    end
  end
  return n
end

-- Leases of lapsed workers and expired leases go back to waiting; due delayed jobs become
-- waiting. Returns how many leases were reclaimed.
local function housekeep()
  local reclaimed = reclaim_lapsed_owners()
  local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(expired) do
    release(id)
    to_front(id)
  end
  local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
  for _, id in ipairs(due) do
    redis.call('ZREM', KEYS[2], id)
    to_wait(id)
  end
  return reclaimed + #expired
end

local function holds_lease(id, token)
  return redis.call('HGET', KEYS[6], id) == token
end
