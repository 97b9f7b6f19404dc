-- Stores a cached response and indexes it under its URL. Both keys share the URL's tag.
-- KEYS[1] entry, KEYS[2] URL index; ARGV[1] payload, ARGV[2] ttl ms, ARGV[3] index ttl ms,
-- ARGV[4] the entry's variant id (its key's last part).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'at', now, 'hits', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
