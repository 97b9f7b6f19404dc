-- No ARGV. Reclaims expired leases and promotes due delayed jobs, then returns
-- {waiting, delayed, active, reclaimed, runnable}: one consistent snapshot in one round
-- trip. Runnable: the waiting jobs a free worker could lease now, each organization in line
-- counted up to its free share (an organization at its cap is not in line).
local reclaimed = housekeep()
local runnable = 0
for _, org in ipairs(redis.call('ZRANGE', KEYS[15], 0, -1)) do
  local n = redis.call('ZCARD', org_wait(org))
  local cap = tonumber(redis.call('HGET', KEYS[13], org) or '0')
  if cap > 0 then
    n = math.min(n, cap - tonumber(redis.call('HGET', KEYS[14], org) or '0'))
  end
  runnable = runnable + math.max(n, 0)
end
return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3]),
  reclaimed, runnable}
