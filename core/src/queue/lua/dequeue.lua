-- ARGV: lease_ms, token. Leases the next job: {id, payload, deliveries} or nil.
housekeep()
local popped = redis.call('ZPOPMIN', KEYS[1])
if #popped == 0 then return false end
local id = popped[1]
redis.call('ZADD', KEYS[3], string.format('%.0f', now + tonumber(ARGV[1])), id)
redis.call('HSET', KEYS[6], id, ARGV[2])
local deliveries = redis.call('HINCRBY', KEYS[8], id, 1)
return {id, redis.call('HGET', KEYS[4], id), deliveries}
