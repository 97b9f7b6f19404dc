-- Drops one cached variant. KEYS[1] entry, KEYS[2] URL index; ARGV[1] variant id.
redis.call('SREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
