-- POST one CDS Hooks body per request with a fresh hookInstance and a JWT that is used once.
-- wrk cannot sign JWTs, so the harness mints them beforehand, one per line, and each wrk thread takes every
-- nth line (n = thread count) so no two requests share a token. Arguments after `--`:
--   path  body-prefix-file  body-suffix-file  tokens-file  thread-count
-- The request body is prefix .. hookInstance .. suffix. done() prints one JSON line for the harness.

local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("id", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

local function slurp(name)
  local f = assert(io.open(name, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

function init(args)
  path = args[1]
  prefix = slurp(args[2])
  suffix = slurp(args[3])
  local nthreads = tonumber(args[5])
  tokens = {}
  local i = 0
  for line in io.lines(args[4]) do
    if i % nthreads == id then
      tokens[#tokens + 1] = line
    end
    i = i + 1
  end
  sent = 0
  exhausted = 0
end

function request()
  sent = sent + 1
  local token = tokens[sent]
  if token == nil then
    -- Out of minted tokens: the request goes out with an invalid one and is counted as an error.
    token = "exhausted"
    exhausted = exhausted + 1
  end
  local hook_instance = string.format("%08x-0000-4000-8000-%012x", id, sent)
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. token
  return wrk.format("POST", path, headers, prefix .. hook_instance .. suffix)
end

function done(summary, latency, requests)
  local out_of_tokens = 0
  for _, thread in ipairs(threads) do
    out_of_tokens = out_of_tokens + (thread:get("exhausted") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"exhausted":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    out_of_tokens))
end
