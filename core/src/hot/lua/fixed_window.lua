-- Fixed-window counter (seed 001 §4.4's cheaper option). The window starts with its first
-- request and is timed by the server, so replicas never disagree on its boundaries; INCR and
-- PEXPIRE are one step, so a crash cannot leave a counter that never expires.
-- KEYS[1] counter; ARGV[1] max, ARGV[2] window ms. Returns {allowed, remaining, reset_ms}.
local max, win = tonumber(ARGV[1]), tonumber(ARGV[2])
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], win)
  ttl = win
end
if count <= max then
  return {1, max - count, ttl}
end
return {0, 0, ttl}
