-- No ARGV. Reclaims expired leases and promotes due delayed jobs, then returns
-- {waiting, delayed, active, reclaimed}: one consistent snapshot in one round trip.
local reclaimed = housekeep()
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]), reclaimed}
