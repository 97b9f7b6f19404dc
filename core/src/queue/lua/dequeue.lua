-- ARGV: lease_ms, token, owner ('' for none), alive_ms. Leases the next job: {id, payload,
-- deliveries} or nil. The organizations with waiting jobs under their cap take turns; an
-- organization's own jobs go by priority, then first in, first out. With an owner, the
-- lease is recorded as its and its liveness is refreshed (leasing is proof of life, so a
-- first lease is never taken for a dead one's).
-- The caller is alive: it says so before the housekeeping, so a worker back from a stall
-- longer than the TTL never takes back its own leases as a dead worker's.
local owner = ARGV[3]
if owner ~= '' then refresh_alive(owner, tonumber(ARGV[4])) end
housekeep()
local id
repeat id = take_turn() until id or redis.call('ZCARD', KEYS[15]) == 0
if not id then return false end
redis.call('ZADD', KEYS[3], string.format('%.0f', now + tonumber(ARGV[1])), id)
redis.call('HSET', KEYS[6], id, ARGV[2])
if owner ~= '' then redis.call('HSET', KEYS[9], id, owner) end
local deliveries = redis.call('HINCRBY', KEYS[8], id, 1)
return {id, redis.call('HGET', KEYS[4], id), deliveries}
