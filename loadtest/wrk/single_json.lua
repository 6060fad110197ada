-- Scenario (a): single-record JSON requests of about 250 bytes.
-- Usage: wrk -s single_json.lua http://127.0.0.1:8082 (topic from TOPIC).
local topic = os.getenv("TOPIC") or "loadtest"
wrk.method = "POST"
wrk.path = "/topics/" .. topic
wrk.headers["Content-Type"] = "application/vnd.kafka.json.v2+json"
wrk.body = '{"records":[{"key":"user-42","value":{"id":42,"name":"Jane Doe","email":"jane.doe@example.com","country":"NL","plan":"pro","active":true,"score":97.5,"tags":["a","b","c"],"created":"2026-11-22T02:00:00Z","note":"a record of about two hundred and fifty bytes"}}]}'

local failed = 0
function response(status, headers, body)
  if status ~= 200 then failed = failed + 1 end
end
