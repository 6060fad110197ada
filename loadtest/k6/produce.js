// Open-model load: a constant arrival rate of produce requests, whatever
// the latency, with thresholds on p99 and the error rate.
// Environment: BODY_FILE, CONTENT_TYPE, TOPIC, URL, RATE (requests/s),
// DURATION (s), VUS, P99_MS (threshold).
import http from 'k6/http';
import { check } from 'k6';

const body = open(__ENV.BODY_FILE);
const url = `${__ENV.URL}/topics/${__ENV.TOPIC}`;
const params = { headers: { 'Content-Type': __ENV.CONTENT_TYPE } };

export const options = {
  scenarios: {
    produce: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 10000),
      timeUnit: '1s',
      duration: `${__ENV.DURATION || 20}s`,
      preAllocatedVUs: Number(__ENV.VUS || 256),
      maxVUs: Number(__ENV.VUS || 256),
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    http_req_duration: [`p(99)<${__ENV.P99_MS || 25}`],
    dropped_iterations: ['count<1'],
  },
  summaryTrendStats: ['p(50)', 'p(99)', 'p(99.9)', 'max'],
};

export default function () {
  const r = http.post(url, body, params);
  check(r, { 'status is 200': (res) => res.status === 200 });
}
