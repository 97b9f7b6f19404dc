-- Whether a sliding-window log has room, without recording anything.
-- KEYS[1] the window's sorted set. ARGV[1] max entries, ARGV[2] window ms.
-- Returns {allowed, retry_after_ms}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max, win = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
local count = redis.call('ZCARD', KEYS[1])
if count < max then return {1, 0} end
if max <= 0 then return {0, win} end
local e = redis.call('ZRANGE', KEYS[1], count - max, count - max, 'WITHSCORES')
return {0, tonumber(e[2]) + win - now}
