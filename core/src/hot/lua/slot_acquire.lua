-- Takes a concurrency slot (seed 001 §4.5). One sorted set per organization, job id scored
-- by the slot's deadline: expired slots (their worker crashed) are dropped before counting.
-- The seed's plain set refreshed one EXPIRE for the whole set on every acquire, so under
-- steady traffic a crashed worker's slot was never freed.
-- KEYS[1] slots; ARGV[1] job id, ARGV[2] limit, ARGV[3] slot ttl ms.
-- Returns {outcome, active}: 1 acquired, 2 already held (deadline renewed), 0 full.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
local count = redis.call('ZCARD', KEYS[1])
if not held and count >= tonumber(ARGV[2]) then
  return {0, count}
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
if held then return {2, count} end
return {1, count + 1}
