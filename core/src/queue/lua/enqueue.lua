-- ARGV: id, payload, priority, delay_ms. Returns 1 when queued, 0 when the id is already in
-- the queue (waiting, delayed or leased): a job is never in two places.
if add(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])) then return 1 end
return 0
