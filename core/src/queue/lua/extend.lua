-- ARGV: id, token, lease_ms. Pushes the lease deadline out; only the holder may. 1 or 0.
if not holds_lease(ARGV[1], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[3], 'XX', string.format('%.0f', now + tonumber(ARGV[3])), ARGV[1])
return 1
