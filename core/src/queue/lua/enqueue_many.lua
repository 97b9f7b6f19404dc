-- ARGV: delay_ms, ahead (1: before the organizations' backlogs, for jobs that were running),
-- then id, payload, priority, organization, cap for each job. Queues each job the queue does
-- not hold already, as enqueue does one at a time (`add_many`); returns how many were added.
local delay_ms = tonumber(ARGV[1])
local ahead = ARGV[2] == '1'
local jobs = {}
for i = 3, #ARGV, 5 do
  jobs[#jobs + 1] = { ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4] }
end
local added = add_many(jobs, delay_ms, ahead)
if added > 0 and delay_ms == 0 then ready(added) end
return added
