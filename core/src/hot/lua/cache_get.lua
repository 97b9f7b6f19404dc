-- Reads a cached response and counts the hit in the same step (seed 001 §4.6 kept hits in a
-- second key that never expired). KEYS[1] entry; ARGV[1] max age ms, or -1 for any age.
-- Returns {state, payload, hits, age_ms}: state 0 miss, 1 older than max age, 2 hit.
local e = redis.call('HMGET', KEYS[1], 'v', 'at')
if not e[1] then return {0, '', 0, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local age = now - (tonumber(e[2]) or 0)
local max_age = tonumber(ARGV[1])
if max_age >= 0 and age > max_age then return {1, '', 0, age} end
local hits = redis.call('HINCRBY', KEYS[1], 'hits', 1)
return {2, e[1], hits, age}
