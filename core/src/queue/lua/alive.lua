-- ARGV: owner, alive_ms. The worker is alive for alive_ms more: its leases are not
-- reclaimed before their deadline while it keeps saying so.
refresh_alive(ARGV[1], tonumber(ARGV[2]))
return 1
