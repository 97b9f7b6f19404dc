-- Shared by every queue script. KEYS (all under one hash tag, so one cluster slot):
--   1 wait (zset: priority-then-FIFO score)   2 delayed (zset: ready-at ms)
--   3 active (zset: lease deadline ms)         4 jobs (hash: id -> payload)
--   5 prio (hash: id -> priority 1..10)        6 lease (hash: id -> lease token)
--   7 seq (counter)                            8 deliveries (hash: id -> times leased)
--   9 owners (hash: id -> worker holding it)  10 alive (zset: worker -> liveness deadline ms)
--  11 intact (string: set by the sweep; gone when Redis lost the queue)
--  12 orgs (hash: id -> organization)       13 caps (hash: organization -> max running, 0 none)
--  14 running (hash: organization -> leased) 15 turns (zset: organization -> place in line)
--  16 the prefix of each organization's own waiting set (zset, scored as wait), KEYS[16]..org:
--     built in the script, under the same hash tag, so still one cluster slot.
--  17.. two per sibling queue of this one's group (src/queue/keys.rs): its turns and its
--     waiting-set prefix. A group's queues share 7 seq, 13 caps and 14 running, so an
--     organization's cap counts its leases on every engine.
-- Jobs enqueued without an organization share the organization ''.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function org_of(id)
  return redis.call('HGET', KEYS[12], id) or ''
end

local function org_wait(org)
  return KEYS[16] .. org
end

local function under_cap(org)
  local cap = tonumber(redis.call('HGET', KEYS[13], org) or '0')
  if cap == 0 then return true end
  return tonumber(redis.call('HGET', KEYS[14], org) or '0') < cap
end

-- The turns invariant, in every queue of the group: an organization is in a queue's line
-- exactly when it has jobs waiting there and fewer running (over the group) than its cap.
-- One joining a line goes to its back.
local function refresh_turn_in(turns, wait_prefix, org)
  if under_cap(org) and redis.call('ZCARD', wait_prefix .. org) > 0 then
    if not redis.call('ZSCORE', turns, org) then
      redis.call('ZADD', turns, redis.call('INCR', KEYS[7]), org)
    end
  else
    redis.call('ZREM', turns, org)
  end
end

-- This queue's waiting jobs of `org` changed: its place in this queue's line.
local function refresh_turn(org)
  refresh_turn_in(KEYS[15], KEYS[16], org)
end

-- `org`'s running count or cap changed: its place in the line of every queue of the group.
local function refresh_turns(org)
  refresh_turn(org)
  for i = 17, #KEYS, 2 do
    refresh_turn_in(KEYS[i], KEYS[i + 1], org)
  end
end

-- Higher priority first, then first in, first out, within the job's organization; the
-- organizations take turns. With `ahead`, the job goes before every job waiting at its
-- priority (after those put ahead before it): its scores sit half a band below the
-- priority's FIFO scores (the counter never reaches 5e11). Formatted with %.0f: Lua's
-- default number-to-string keeps only 14 digits. `seq` is the job's number from the
-- group's counter (KEYS[7]). The organization's place in line is the caller's to refresh.
local function place_seq(id, p, org, seq, ahead)
  local base = (10 - p) * 1e12 + seq
  if ahead then base = base - 5e11 end
  local score = string.format('%.0f', base)
  redis.call('ZADD', KEYS[1], score, id)
  redis.call('ZADD', org_wait(org), score, id)
end

local function place(id, ahead)
  local p = tonumber(redis.call('HGET', KEYS[5], id) or '5')
  local org = org_of(id)
  place_seq(id, p, org, redis.call('INCR', KEYS[7]), ahead)
  refresh_turn(org)
end

local function to_wait(id)
  place(id, false)
end

-- Back to waiting ahead of its organization's backlog: a job taken from a dead worker (or a
-- lapsed lease) was started before the jobs waiting, so it does not queue behind them again.
local function to_front(id)
  place(id, true)
end

-- Takes a waiting job off both waiting sets (a cancel).
local function unwait(id)
  local org = org_of(id)
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', org_wait(org), id)
  refresh_turn(org)
end

-- Waiting now, or delayed until `delay_ms` from now.
-- With `ahead`, a job waiting now goes before its organization's backlog (see to_front).
local function schedule(id, delay_ms, ahead)
  if delay_ms > 0 then
    redis.call('ZADD', KEYS[2], string.format('%.0f', now + delay_ms), id)
  elseif ahead then
    to_front(id)
  else
    to_wait(id)
  end
end

-- Records `org`'s cap (the latest enqueue's; 0 for none); it may let the org back in line,
-- in every queue of the group when the cap changed.
local function set_cap(org, cap)
  if org == '' then return end
  local changed = tonumber(redis.call('HGET', KEYS[13], org) or '0') ~= cap
  if cap > 0 then
    redis.call('HSET', KEYS[13], org, cap)
  else
    redis.call('HDEL', KEYS[13], org)
  end
  if changed then refresh_turns(org) else refresh_turn(org) end
end

-- A job waiting since before organizations took turns (in `wait` only) joins its
-- organization's waiting set when it is enqueued again (the sweep's check pass does).
local function adopt(id, org)
  local score = redis.call('ZSCORE', KEYS[1], id)
  if not score or redis.call('ZSCORE', org_wait(org_of(id)), id) then return end
  if org ~= '' then redis.call('HSET', KEYS[12], id, org) end
  redis.call('ZADD', org_wait(org), score, id)
  refresh_turn(org)
end

-- Queues a job of `org` (capped at `cap` running, 0 for no cap) unless the queue holds it
-- already (waiting, delayed or leased): a job is never in two places. True when added.
-- Tells idle workers `jobs` jobs are waiting: one message on the queue's sharded channel,
-- its waiting set's name and ':ready' (under the queue's hash tag, so on the script's slot),
-- which `queue::wake` follows.
local function ready(jobs)
  redis.call('SPUBLISH', KEYS[1] .. ':ready', cjson.encode({ wait = KEYS[1], jobs = jobs }))
end

local function add(id, payload, priority, delay_ms, org, cap, ahead)
  set_cap(org, cap)
  if redis.call('HEXISTS', KEYS[4], id) == 1 then
    adopt(id, org)
    return false
  end
  redis.call('HSET', KEYS[4], id, payload)
  redis.call('HSET', KEYS[5], id, priority)
  if org ~= '' then redis.call('HSET', KEYS[12], id, org) end
  schedule(id, delay_ms, ahead)
  return true
end

-- Queues many jobs as `add` does one at a time, in fewer calls: each job's priority and
-- organization from the arguments rather than read back, one counter increment for all,
-- and each organization's cap and place in line set once, after its jobs (the script is
-- atomic, so no reader sees the line between). `jobs` holds {id, payload, priority, org,
-- cap}. Returns how many were added.
local function add_many(jobs, delay_ms, ahead)
  local caps, order = {}, {}
  local fresh = {}
  for _, j in ipairs(jobs) do
    if caps[j[4]] == nil then order[#order + 1] = j[4] end
    caps[j[4]] = tonumber(j[5])
    if redis.call('HEXISTS', KEYS[4], j[1]) == 1 then
      adopt(j[1], j[4])
    else
      redis.call('HSET', KEYS[4], j[1], j[2])
      redis.call('HSET', KEYS[5], j[1], j[3])
      if j[4] ~= '' then redis.call('HSET', KEYS[12], j[1], j[4]) end
      fresh[#fresh + 1] = j
    end
  end
  if #fresh > 0 then
    if delay_ms > 0 then
      for _, j in ipairs(fresh) do schedule(j[1], delay_ms, ahead) end
    else
      local seq = redis.call('INCRBY', KEYS[7], #fresh) - #fresh
      for k, j in ipairs(fresh) do
        place_seq(j[1], tonumber(j[3]) or 5, j[4], seq + k, ahead)
      end
    end
  end
  for _, org in ipairs(order) do
    if org == '' then refresh_turn(org) else set_cap(org, caps[org]) end
  end
  return #fresh
end

-- Ends a lease (the job is no longer in flight). Its organization's running count drops
-- once: only the call that removes the lease decrements it.
local function release(id)
  if redis.call('ZREM', KEYS[3], id) == 1 then
    local org = org_of(id)
    if redis.call('HINCRBY', KEYS[14], org, -1) <= 0 then
      redis.call('HDEL', KEYS[14], org)
    end
    refresh_turns(org)
  end
  redis.call('HDEL', KEYS[6], id)
  redis.call('HDEL', KEYS[9], id)
end

-- Leases the next waiting job of the organization first in line; it goes to the back of
-- the line, or out of it at its cap or when it has nothing left; at its cap it also leaves
-- the lines of the group's other queues. Returns the id, or nil when the first in line had
-- nothing to lease (the caller then asks the next).
local function take_turn()
  local first = redis.call('ZRANGE', KEYS[15], 0, 0)
  if #first == 0 then return nil end
  local org = first[1]
  redis.call('ZREM', KEYS[15], org)
  if not under_cap(org) then
    refresh_turns(org)
    return nil
  end
  local popped = redis.call('ZPOPMIN', org_wait(org))
  if #popped == 0 then return nil end
  local id = popped[1]
  redis.call('ZREM', KEYS[1], id)
  redis.call('HINCRBY', KEYS[14], org, 1)
  refresh_turns(org)
  return id
end

-- Drops what the queue keeps about a job that has left it.
local function forget(id)
  redis.call('HDEL', KEYS[12], id)
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
