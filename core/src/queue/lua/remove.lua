-- ARGV: id. Removes a waiting or delayed job (a cancel). Returns 1 when removed, 0 when the
-- queue does not hold it, -1 when it is leased (in flight: its worker must see the cancel).
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return -1 end
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 0 then return 0 end
unwait(ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
forget(ARGV[1])
return 1
