-- ARGV: id, token. Removes a finished job; only the lease holder may. Returns 1 or 0.
if not holds_lease(ARGV[1], ARGV[2]) then return 0 end
release(ARGV[1])
forget(ARGV[1])
return 1
