-- Per-domain politeness across every worker: at most ARGV[2] requests in flight, and
-- starts at least ARGV[3] ms apart. KEYS (one tag per domain): 1 in-flight zset (member
-- -> deadline), 2 next-start time. ARGV: 1 holder id, 2 cap, 3 delay ms, 4 slot ttl ms.
-- Returns {1, 0} when granted, {0, wait_ms} when not yet.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap, delay, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= cap then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(10, math.min(250, tonumber(first[2]) - now))}
end
local next_start = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < next_start then
  return {0, next_start - now}
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
if delay > 0 then
  redis.call('SET', KEYS[2], string.format('%.0f', now + delay), 'PX', delay)
end
return {1, 0}
