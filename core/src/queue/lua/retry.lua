-- ARGV: id, token, delay_ms. Gives a leased job back, to run again after the delay (now
-- when 0); only the holder may. 1 or 0.
if not holds_lease(ARGV[1], ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HDEL', KEYS[6], ARGV[1])
local delay = tonumber(ARGV[3])
if delay > 0 then
  redis.call('ZADD', KEYS[2], string.format('%.0f', now + delay), ARGV[1])
else
  to_wait(ARGV[1])
end
return 1
