-- wrk script for bench/router: replays one InvokeEndpoint request, signed
-- once by run.mjs (SigV4 carries no nonce: a signature is valid for any
-- number of sends within Berth's 15-minute clock window), and prints the
-- summary as one JSON line that run.mjs reads.
--
-- wrk ... -s invoke.lua URL -- PATH BODY_FILE HEADERS_FILE
-- HEADERS_FILE: one "name<TAB>value" a line, Host included (it is signed).

local function read_all(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local req

function init(args)
  local headers = {}
  for line in io.lines(args[3]) do
    local k, v = line:match("^([^\t]+)\t(.*)$")
    if k then headers[k] = v end
  end
  req = wrk.format("POST", args[1], headers, read_all(args[2]))
end

function request()
  return req
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
