-- ARGV: id, payload, priority, delay_ms. Returns 1 when queued, 0 when the id is already in
-- the queue (waiting, delayed or leased): a job is never in two places.
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[3])
schedule(ARGV[1], tonumber(ARGV[4]))
return 1
