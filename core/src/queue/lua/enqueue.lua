-- ARGV: id, payload, priority, delay_ms, organization ('' for none), its cap (0 for none).
-- Returns 1 when queued, 0 when the id is already in the queue (waiting, delayed or
-- leased): a job is never in two places.
if add(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])) then
  if tonumber(ARGV[4]) == 0 then ready(1) end
  return 1
end
return 0
