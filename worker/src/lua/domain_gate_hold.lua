-- Keeps a held place in a domain's gate: KEYS 1 the in-flight zset; ARGV 1 holder id,
-- 2 hold ms. Returns 1 when the holder still had its place (now held hold ms more), 0 when
-- it had lapsed (the place was given up or taken back).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
