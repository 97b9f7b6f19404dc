-- ARGV: delay_ms, ahead (1: before the organizations' backlogs, for jobs that were running),
-- then id, payload, priority, organization, cap for each job. Queues each job the queue does
-- not hold already, as enqueue does one at a time; returns how many were added.
local delay_ms = tonumber(ARGV[1])
local ahead = ARGV[2] == '1'
local added = 0
for i = 3, #ARGV, 5 do
  if add(ARGV[i], ARGV[i + 1], ARGV[i + 2], delay_ms, ARGV[i + 3], tonumber(ARGV[i + 4]), ahead) then
    added = added + 1
  end
end
if added > 0 and delay_ms == 0 then ready(added) end
return added
