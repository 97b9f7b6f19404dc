-- ARGV: id, token, delay_ms[, uncount]. Gives a leased job back, to run again after the
-- delay (now when 0); only the holder may. With uncount = 1 (a deferral: the lease did no
-- work) the lease is not counted among the job's deliveries. 1 or 0.
if not holds_lease(ARGV[1], ARGV[2]) then return 0 end
release(ARGV[1])
if ARGV[4] == '1' then redis.call('HINCRBY', KEYS[8], ARGV[1], -1) end
schedule(ARGV[1], tonumber(ARGV[3]))
return 1
