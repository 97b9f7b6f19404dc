-- Nearest-rank percentiles of a latency sorted set. KEYS[1] series; ARGV percentiles in
-- permille (500 = p50). Returns {count, value per percentile...}.
local n = redis.call('ZCARD', KEYS[1])
local out = {tostring(n)}
if n == 0 then return out end
for i = 1, #ARGV do
  local rank = math.ceil(tonumber(ARGV[i]) * n / 1000) - 1
  if rank < 0 then rank = 0 end
  if rank > n - 1 then rank = n - 1 end
  local e = redis.call('ZRANGE', KEYS[1], rank, rank, 'WITHSCORES')
  -- As the string Redis stores: a Lua number would be truncated to an integer reply.
  out[#out + 1] = e[2]
end
return out
