-- wrk's side of comparison (a), the ceiling: GET /page/0 .. /page/(PAGES-1) in turn.
local pages = tonumber(os.getenv("BENCH_PAGES") or "10000")
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/page/" .. (n % pages))
end
