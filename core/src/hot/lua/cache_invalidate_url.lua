-- Drops every cached variant of a URL. KEYS[1] URL index; ARGV[1] the entries' key prefix.
-- The entries' keys are built here from the index; they carry the index's hash tag, so they
-- live on the same cluster slot.
local removed = 0
for _, variant in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  removed = removed + redis.call('DEL', ARGV[1] .. variant)
end
redis.call('DEL', KEYS[1])
return removed
