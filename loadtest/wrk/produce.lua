-- Sends one scenario's request body, again and again, and prints the
-- latency percentiles as one JSON line for loadtest/run.sh.
-- Environment: BODY_FILE (the body), CONTENT_TYPE, TOPIC, and AUTHORIZATION
-- (an Authorization header value, when the gateway asks for credentials).
local f = assert(io.open(os.getenv("BODY_FILE"), "r"))
wrk.body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = "/topics/" .. os.getenv("TOPIC")
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE")
local authorization = os.getenv("AUTHORIZATION")
if authorization and authorization ~= "" then
  wrk.headers["Authorization"] = authorization
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "seconds": %.3f, "errors": %d, "p50_ms": %.3f, "p99_ms": %.3f, "p999_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, errors,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency:percentile(99.9) / 1e3))
end
