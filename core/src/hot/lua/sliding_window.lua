-- Sliding-window log over several windows at once (seed 001 §4.4), all or nothing: the
-- request is recorded in every window only when every window has room, so a refusal by one
-- window never uses up another's quota.
-- KEYS[1]   the organization's member sequence; KEYS[2..n+1] one sorted set per window.
-- ARGV[3i-2..3i] for window i: max requests, window ms, key ttl ms.
-- Returns {allowed, limit, remaining, retry_after_ms, reset_ms} for the tightest window.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS - 1
local allowed = 1
local retry = 0
local counts = {}

for i = 1, n do
  local key, max, win = KEYS[i + 1], tonumber(ARGV[3 * i - 2]), tonumber(ARGV[3 * i - 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - win)
  local count = redis.call('ZCARD', key)
  counts[i] = count
  if count >= max then
    allowed = 0
    -- Room opens when the entry at rank count-max leaves the window.
    local wait = win
    if max > 0 then
      local e = redis.call('ZRANGE', key, count - max, count - max, 'WITHSCORES')
      wait = tonumber(e[2]) + win - now
    end
    if wait > retry then retry = wait end
  end
end

if allowed == 1 then
  -- Time and sequence make every member unique (the seed's `now .. math.random()`
  -- collides: Lua's random is seeded identically for every script call).
  local seq = string.format('%.0f-%d', now, redis.call('INCR', KEYS[1]))
  local longest = 0
  for i = 1, n do
    local key, ttl = KEYS[i + 1], tonumber(ARGV[3 * i])
    redis.call('ZADD', key, now, seq)
    redis.call('PEXPIRE', key, ttl)
    counts[i] = counts[i] + 1
    if ttl > longest then longest = ttl end
  end
  -- Only ever lengthen the sequence's life: a call with short windows must not let it
  -- expire (and restart) while longer windows still hold its members.
  if redis.call('PTTL', KEYS[1]) < longest then
    redis.call('PEXPIRE', KEYS[1], longest)
  end
end

-- Report the window with the least room left.
local best, best_left = 1, nil
for i = 1, n do
  local left = tonumber(ARGV[3 * i - 2]) - counts[i]
  if best_left == nil or left < best_left then best, best_left = i, left end
end
local key, max, win = KEYS[best + 1], tonumber(ARGV[3 * best - 2]), tonumber(ARGV[3 * best - 1])
local reset = 0
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
if oldest[2] then reset = tonumber(oldest[2]) + win - now end
if best_left < 0 then best_left = 0 end
return {allowed, max, best_left, retry, reset}
