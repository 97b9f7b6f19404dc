-- ARGV: id, token, delay_ms. Gives a leased job back, to run again after the delay (now
-- when 0); only the holder may. 1 or 0.
if not holds_lease(ARGV[1], ARGV[2]) then return 0 end
release(ARGV[1])
schedule(ARGV[1], tonumber(ARGV[3]))
return 1
