-- ARGV: owner, alive_ms. The worker is alive for alive_ms more: its leases are not
-- reclaimed before their deadline while it keeps saying so. Every refresh also takes back
-- the leases of owners whose liveness lapsed, so a dead worker's jobs go back within a
-- refresh interval of its lapse even when no one dequeues (every slot busy or waiting).
refresh_alive(ARGV[1], tonumber(ARGV[2]))
return reclaim_lapsed_owners()
