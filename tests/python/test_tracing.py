"""A caller's trace context followed into Kafka, against the real broker
(tansu): a gateway started with tracing on (its collector unreachable, as
an operator's may be) produces records that Confluent's own consumer reads
back with a `traceparent` header in the caller's trace, naming the
gateway's span of the request; a v3 record that brings its own
`traceparent` keeps it.

Run by tests/run.sh with GATEWAY_BIN and KAFKA_BOOTSTRAP.
"""
import base64
import http.client
import json
import os
import re
import socket
import subprocess
import tempfile
import time
import uuid

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewTopic

GATEWAY_BIN = os.environ["GATEWAY_BIN"]
BOOTSTRAP = os.environ["KAFKA_BOOTSTRAP"]
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    return r.status, r.read()


def test_records_in_kafka_carry_the_callers_trace():
    topic = f"traced-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=30)
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="gw-tracing-", suffix=".log", delete=False)
    env = dict(os.environ,
               KAFKA_GATEWAY_KAFKA_BOOTSTRAP_SERVERS=BOOTSTRAP,
               KAFKA_GATEWAY_TRACING_ENABLED="true",
               KAFKA_GATEWAY_TRACING_ENDPOINT=f"http://127.0.0.1:{free_port()}",
               RUST_LOG="warn")
    gateway = subprocess.Popen([GATEWAY_BIN, "--listen", f"127.0.0.1:{port}"],
                               env=env, stdout=log, stderr=log)
    try:
        deadline = time.time() + 30
        while True:
            try:
                if request(port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, open(log.name).read()
            time.sleep(0.1)
        caller = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"
        status, body = request(
            port, "POST", f"/topics/{topic}",
            json.dumps({"records": [{"value": {"n": 1}}, {"value": {"n": 2}}]}),
            {"Content-Type": "application/vnd.kafka.json.v2+json", "traceparent": caller})
        assert status == 200, body
        status, body = request(port, "GET", "/v3/clusters")
        cluster = json.loads(body)["data"][0]["cluster_id"]
        own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        status, body = request(
            port, "POST", f"/v3/clusters/{cluster}/topics/{topic}/records",
            json.dumps({"value": {"type": "JSON", "data": 3},
                        "headers": [{"name": "traceparent",
                                     "value": base64.b64encode(own.encode()).decode()}]}),
            {"Content-Type": "application/json", "traceparent": caller})
        assert status == 200, body

        consumer = Consumer({"bootstrap.servers": BOOTSTRAP,
                             "group.id": f"tracing-{uuid.uuid4().hex[:8]}",
                             "auto.offset.reset": "earliest",
                             "enable.auto.commit": False})
        consumer.subscribe([topic])
        records = []
        deadline = time.time() + 30
        while len(records) < 3 and time.time() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                records.append(message)
        consumer.close()
        assert len(records) == 3, [m.value() for m in records]
        headers = [dict((k, v.decode()) for k, v in (m.headers() or [])) for m in records]
        v2 = [h["traceparent"] for h in headers[:2]]
        # The caller's trace, the gateway's own span of the request (not
        # the caller's span), sampled.
        assert all(re.fullmatch(rf"00-{CALLER_TRACE}-[0-9a-f]{{16}}-01", tp) for tp in v2), v2
        assert v2[0] == v2[1], "one request, one span"
        assert v2[0] != caller, "the gateway's span, not the caller's"
        assert headers[2]["traceparent"] == own, headers[2]
        # The gateway still serves with its collector unreachable, and says so
        # only in a counter.
        status, metrics = request(port, "GET", "/metrics")
        assert status == 200
        assert b"gateway_tracing_export_failures_total" in metrics
    finally:
        gateway.terminate()
        gateway.wait(timeout=60)
