"""Security with clients no one here wrote, against a gateway started here
with HTTPS (a CA and certificate made with openssl), HTTP Basic against an
auth file (hash from `kafka-gateway hash-password`), ACLs and CORS:

- curl over https, with and without credentials;
- Confluent's SchemaRegistryClient with basic.auth.user.info and
  ssl.ca.location;
- headless Chromium: a page from one origin fetch()es a produce request,
  with credentials, to the gateway on another origin over HTTPS; the
  record is read back from Kafka. A page from an origin the gateway does
  not allow is refused by the browser.

Run by tests/run.sh with GATEWAY_BIN and KAFKA_BOOTSTRAP set.
"""
import base64
import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

BOOTSTRAP = os.environ["KAFKA_BOOTSTRAP"]
GATEWAY_BIN = os.environ["GATEWAY_BIN"]
PASSWORD = "browser-and-curl-secret"
JSON_V2 = "application/vnd.kafka.json.v2+json"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(directory):
    """A CA, and a server certificate it signs for localhost."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=kafka-gateway test CA",
            "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=directory)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-subj", "/CN=localhost", "-keyout", "server-key.pem", "-out", "server.csr",
            cwd=directory)
    with open(os.path.join(directory, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem",
            cwd=directory)


def spki_hash(certificate):
    """Base64 SHA-256 of the certificate's public key, as Chromium's
    --ignore-certificate-errors-spki-list takes it: trust this one key."""
    key = subprocess.run(["openssl", "x509", "-in", certificate, "-pubkey", "-noout"],
                         check=True, capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=key,
                         check=True, capture_output=True).stdout
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der,
                            check=True, capture_output=True).stdout
    return base64.b64encode(digest).decode()


def new_topic():
    name = f"py-sec-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=15)
    return name


def read(topic, count):
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"py-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    out = []
    deadline = time.time() + 15
    while len(out) < count and time.time() < deadline:
        message = consumer.poll(0.1)
        if message is not None and message.error() is None:
            out.append(message)
    consumer.close()
    assert len(out) == count, f"read {len(out)} of {count} records from {topic}"
    return out


class Pages(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve_pages(directory, port):
    handler = functools.partial(Pages, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def secure():
    directory = tempfile.mkdtemp(prefix="gw-py-security-")
    make_certificates(directory)
    password_hash = subprocess.run([GATEWAY_BIN, "hash-password"], input=PASSWORD + "\n",
                                   text=True, check=True, capture_output=True).stdout.strip()
    with open(os.path.join(directory, "auth.toml"), "w") as f:
        f.write(f"""
[[users]]
name = "alice"
password_hash = "{password_hash}"

[[acls]]
principal = "User:alice"
resource = "topic:py-sec-*"
operations = ["write", "read"]

[[acls]]
principal = "User:alice"
resource = "subject:py-sec-*"
operations = ["read", "write"]
""")
    page_port, other_port, port = free_port(), free_port(), free_port()
    page_origin = f"http://127.0.0.1:{page_port}"
    env = dict(os.environ,
               KAFKA_GATEWAY_KAFKA_BOOTSTRAP_SERVERS=BOOTSTRAP,
               KAFKA_GATEWAY_HTTP_TLS_CERT_FILE=os.path.join(directory, "server.pem"),
               KAFKA_GATEWAY_HTTP_TLS_KEY_FILE=os.path.join(directory, "server-key.pem"),
               KAFKA_GATEWAY_AUTH_METHOD="basic",
               KAFKA_GATEWAY_HTTP_ACCESS_LOG="true",
               KAFKA_GATEWAY_AUTH_FILE=os.path.join(directory, "auth.toml"),
               KAFKA_GATEWAY_HTTP_CORS_ALLOWED_ORIGINS=json.dumps([page_origin]))
    log = open(os.path.join(directory, "gateway.log"), "w")
    gateway = subprocess.Popen([GATEWAY_BIN, "--listen", f"127.0.0.1:{port}"], env=env,
                               stderr=log, stdout=log)
    url = f"https://localhost:{port}"
    ca = os.path.join(directory, "ca.pem")
    for _ in range(100):
        if subprocess.run(["curl", "-sf", "--cacert", ca, f"{url}/readyz"],
                          capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    else:
        gateway.kill()
        raise AssertionError(open(os.path.join(directory, "gateway.log")).read())
    yield {"url": url, "ca": ca, "dir": directory, "log": os.path.join(directory, "gateway.log"), "page_port": page_port,
           "other_port": other_port, "server_cert": os.path.join(directory, "server.pem")}
    gateway.terminate()
    gateway.wait(timeout=30)
    log.close()
    shutil.rmtree(directory, ignore_errors=True)


def curl(secure, *args):
    done = subprocess.run(["curl", "-s", "--cacert", secure["ca"], "-w", "\n%{http_code}", *args],
                          check=True, capture_output=True, text=True)
    body, _, status = done.stdout.rpartition("\n")
    return int(status), body


def test_curl_over_https_with_basic_credentials(secure):
    topic = new_topic()
    body = json.dumps({"records": [{"value": {"via": "curl"}}]})
    status, answer = curl(secure, "-X", "POST", "-H", f"Content-Type: {JSON_V2}",
                          "--data", body, f"{secure['url']}/topics/{topic}")
    assert status == 401, answer
    assert json.loads(answer)["error_code"] == 40101
    status, answer = curl(secure, "-u", "alice:wrong", "-X", "POST", "-H",
                          f"Content-Type: {JSON_V2}", "--data", body,
                          f"{secure['url']}/topics/{topic}")
    assert status == 401, answer
    status, answer = curl(secure, "-u", f"alice:{PASSWORD}", "-X", "POST", "-H",
                          f"Content-Type: {JSON_V2}", "--data", body,
                          f"{secure['url']}/topics/{topic}")
    assert status == 200, answer
    assert json.loads(answer)["offsets"][0]["offset"] == 0
    [message] = read(topic, 1)
    assert json.loads(message.value()) == {"via": "curl"}
    # An ACL allows only py-sec-* topics.
    status, answer = curl(secure, "-u", f"alice:{PASSWORD}", f"{secure['url']}/topics/other")
    assert status == 403 and json.loads(answer)["error_code"] == 40301, answer


def test_confluent_schema_registry_client_over_https_with_basic_auth(secure):
    registry = SchemaRegistryClient({"url": secure["url"], "ssl.ca.location": secure["ca"],
                                     "basic.auth.user.info": f"alice:{PASSWORD}"})
    subject = f"py-sec-{uuid.uuid4().hex[:8]}-value"
    schema = Schema(json.dumps({"type": "record", "name": "Payment",
                                "fields": [{"name": "cents", "type": "long"}]}), "AVRO")
    schema_id = registry.register_schema(subject, schema)
    latest = registry.get_latest_version(subject)
    assert latest.schema_id == schema_id and latest.version == 1
    assert subject in registry.get_subjects()

    with pytest.raises(SchemaRegistryError) as denied:
        registry.register_schema("payments-value", schema)
    assert denied.value.http_status_code == 403
    assert denied.value.error_code == 40301

    wrong = SchemaRegistryClient({"url": secure["url"], "ssl.ca.location": secure["ca"],
                                  "basic.auth.user.info": "alice:wrong"})
    with pytest.raises(SchemaRegistryError) as refused:
        wrong.get_subjects()
    assert refused.value.http_status_code == 401
    assert refused.value.error_code == 40101


PAGE = """<!doctype html>
<html><head><title>pending</title></head><body><pre id="out">pending</pre>
<script>
fetch("%(url)s/topics/%(topic)s", {
  method: "POST", mode: "cors", credentials: "include",
  headers: {"Authorization": "Basic %(basic)s", "Content-Type": "%(ctype)s",
            "Accept": "application/vnd.kafka.v2+json"},
  body: JSON.stringify({records: [{value: {from: "browser", page: location.origin}}]})
}).then(r => r.json().then(j => "STATUS " + r.status + " " + JSON.stringify(j)))
  .catch(e => "FAILED " + e)
  .then(text => { document.getElementById("out").textContent = text; });
</script></body></html>
"""


def chromium(secure, page_url):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is not installed (tests/run.sh installs Debian's)"
    profile = tempfile.mkdtemp(prefix="gw-chromium-")
    try:
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}",
             f"--ignore-certificate-errors-spki-list={spki_hash(secure['server_cert'])}",
             "--virtual-time-budget=15000", "--dump-dom", page_url],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    found = re.search(r'<pre id="out">(.*?)</pre>', done.stdout, re.S)
    assert found, f"no result in the page: {done.stdout[-2000:]} {done.stderr[-2000:]}"
    return found.group(1)


def test_a_browser_produces_cross_origin_over_https(secure):
    topic = new_topic()
    pages = tempfile.mkdtemp(prefix="gw-pages-")
    basic = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    with open(os.path.join(pages, "produce.html"), "w") as f:
        f.write(PAGE % {"url": secure["url"], "topic": topic, "basic": basic, "ctype": JSON_V2})
    allowed = serve_pages(pages, secure["page_port"])
    other = serve_pages(pages, secure["other_port"])
    try:
        result = chromium(secure, f"http://127.0.0.1:{secure['page_port']}/produce.html")
        assert result.startswith("STATUS 200 "), result
        answer = json.loads(result[len("STATUS 200 "):])
        assert answer["offsets"][0]["offset"] == 0
        # The gateway does not name this origin: the browser keeps the
        # answer from the page.
        refused = chromium(secure, f"http://127.0.0.1:{secure['other_port']}/produce.html")
        assert refused.startswith("FAILED"), refused
    finally:
        allowed.shutdown()
        other.shutdown()
        shutil.rmtree(pages, ignore_errors=True)
    # The allowed page's record is in Kafka, and only it: the other page's
    # preflight got no Access-Control-Allow-Origin, so the browser never
    # sent its POST.
    messages = read(topic, 1)
    value = json.loads(messages[0].value())
    assert value == {"from": "browser", "page": f"http://127.0.0.1:{secure['page_port']}"}
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"py-{uuid.uuid4()}"})
    assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 1)
    consumer.close()


def test_the_access_log_names_the_principal_and_never_the_secret(secure):
    # Run last: the requests above are in the log by now.
    time.sleep(0.2)
    with open(secure["log"]) as f:
        log = f.read()
    access = [line for line in log.splitlines() if "kafka_gateway::access" in line]
    assert any("User:alice" in line and "status=200" in line for line in access), log[-3000:]
    assert PASSWORD not in log
    assert base64.b64encode(f"alice:{PASSWORD}".encode()).decode() not in log
    assert "alice:wrong" not in log
