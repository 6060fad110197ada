"""The monitoring files in deploy/, tested against the real thing:

- deploy/prometheus/alerts.yml passes `promtool check rules`, and its unit
  tests, deploy/prometheus/alerts.test.yml, pass `promtool test rules`
  (each alert fires where it should and not where it should not);
- deploy/grafana/kafka-gateway.json is a well-formed Grafana dashboard
  (top-level fields, every panel's type, gridPos, datasource and targets);
- a gateway binary on tansu, scraped every second by Debian's Prometheus
  running deploy/prometheus/prometheus.yml (only the gateway's address and
  the intervals put in), is put under 20 s of load (v2 produce from several
  threads, requests for an unknown topic and an unknown path, a v2
  consumer instance reading): then every target of every dashboard panel,
  run as an instant query with Grafana's variables put in, returns data;
  Prometheus loaded every alert rule, evaluates each without error, and
  none is pending or firing under this healthy load;
- deploy/grafana/render_svg.py draws the dashboard from that run (range
  queries over the load) as SVG, which parses as XML and shows data in
  every panel. With UPDATE_DASHBOARD_SVG set, the picture is written to
  docs/dashboard.svg (docs/monitoring.md shows it), else to a temporary file.

Empty panels allowed: only the cluster ones (gateway_cluster_*), which a
single gateway without [cluster] may export no series for; none other.

Run by tests/run.sh with GATEWAY_BIN and KAFKA_BOOTSTRAP set; skipped only
when /usr/bin/prometheus (Debian's `prometheus`, which brings promtool) is
missing.
"""
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "kafka-gateway.json")
RENDERER = os.path.join(ROOT, "deploy", "grafana", "render_svg.py")
PROMETHEUS_YML = os.path.join(ROOT, "deploy", "prometheus", "prometheus.yml")
ALERTS = os.path.join(ROOT, "deploy", "prometheus", "alerts.yml")
ALERTS_TEST = os.path.join(ROOT, "deploy", "prometheus", "alerts.test.yml")
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
JSON_V2 = "application/vnd.kafka.json.v2+json"
V2 = "application/vnd.kafka.v2+json"
LOAD_SECONDS = 20
# Grafana's variables as put in for the instant queries.
INSTANT_VALUES = {"__rate_interval": "1m", "__interval": "15s", "instance": ".*"}
PANEL_TYPES = {"timeseries", "stat", "gauge", "bargauge", "table", "text", "heatmap"}

needs_prometheus = pytest.mark.skipif(
    not os.path.exists(PROMETHEUS),
    reason="/usr/bin/prometheus is missing: install Debian's `prometheus` package "
           "(tests/run.sh does) to test the dashboard and the alerts")


def load_renderer():
    spec = importlib.util.spec_from_file_location("render_svg", RENDERER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dashboard():
    with open(DASHBOARD) as f:
        return json.load(f)


def targets(dash):
    """(panel, target) for every target of every panel."""
    return [(p, t) for p in dash["panels"] for t in p.get("targets", [])]


def allowed_empty(expr):
    """Cluster metrics: a gateway without [cluster] may export none."""
    return "gateway_cluster_" in expr


def api(base, path, params=None, timeout=10):
    url = f"{base}{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]


def call(connection, method, path, body=None, headers=None):
    data = json.dumps(body) if body is not None else None
    connection.request(method, path, data, headers or {})
    response = connection.getresponse()
    raw = response.read()
    try:
        return response.status, json.loads(raw) if raw else None
    except ValueError:
        return response.status, raw.decode(errors="replace")


# ---------------------------------------------------------------- static

@needs_prometheus
def test_alert_rules_pass_promtool_check_and_unit_tests():
    check = subprocess.run([PROMTOOL, "check", "rules", ALERTS],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS" in check.stdout, check.stdout
    unit = subprocess.run([PROMTOOL, "test", "rules", ALERTS_TEST], cwd=os.path.dirname(ALERTS_TEST),
                          capture_output=True, text=True, timeout=60)
    assert unit.returncode == 0, unit.stdout + unit.stderr
    assert "SUCCESS" in unit.stdout, unit.stdout
    # One unit test per alert: every alert of alerts.yml is tested.
    names = set(re.findall(r"^\s*- alert: (\S+)", open(ALERTS).read(), re.M))
    tested = set(re.findall(r"alertname: (\S+)", open(ALERTS_TEST).read()))
    assert names and names == tested, f"untested: {names - tested}, unknown: {tested - names}"
    for block in re.split(r"^\s*- alert: ", open(ALERTS).read(), flags=re.M)[1:]:
        name = block.split()[0]
        assert re.search(r"^\s+for: \d+[smh]", block, re.M), f"{name} has no for:"
        assert re.search(r"^\s+severity: (critical|warning)", block, re.M), f"{name}: severity"
        assert re.search(r"^\s+summary: ", block, re.M), f"{name}: summary"
        assert re.search(r"^\s+description: ", block, re.M), f"{name}: description"


def test_dashboard_json_is_well_formed():
    dash = dashboard()
    for field in ("title", "uid", "panels", "templating", "schemaVersion"):
        assert field in dash, f"no {field}"
    assert isinstance(dash["title"], str) and dash["title"]
    assert isinstance(dash["uid"], str) and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dash["uid"])
    assert isinstance(dash["schemaVersion"], int) and dash["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["type"] == "query"
    assert "label_values(gateway_http_requests_total, instance)" in json.dumps(
        variables["instance"]["query"])
    ids = [p.get("id") for p in dash["panels"]]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    titles = [p.get("title") for p in dash["panels"]]
    assert len(titles) == len(set(titles)), f"duplicate panel titles: {titles}"
    assert all(isinstance(i, int) for i in ids), ids
    cells = set()
    for p in dash["panels"]:
        where = f"panel {p.get('id')} {p.get('title')!r}"
        assert p.get("title"), where
        assert p.get("type") in PANEL_TYPES, f"{where}: type {p.get('type')}"
        g = p.get("gridPos")
        assert isinstance(g, dict), where
        for k in ("x", "y", "w", "h"):
            assert isinstance(g.get(k), int) and not isinstance(g.get(k), bool), f"{where}: gridPos.{k}"
        assert 0 <= g["x"] and g["w"] > 0 and g["x"] + g["w"] <= 24 and g["h"] > 0 and g["y"] >= 0, where
        # No two panels on the same grid cell.
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{where} overlaps another panel at {(x, y)}"
                cells.add((x, y))
        ds = p.get("datasource")
        assert isinstance(ds, dict) and ds.get("type") == "prometheus" and ds.get("uid") == "${datasource}", where
        ts = p.get("targets")
        assert isinstance(ts, list) and ts, f"{where}: no targets"
        refs = [t.get("refId") for t in ts]
        assert all(isinstance(r, str) and r for r in refs), f"{where}: refId"
        assert len(refs) == len(set(refs)), f"{where}: duplicate refIds {refs}"
        for t in ts:
            assert isinstance(t.get("expr"), str) and t["expr"].strip(), f"{where}: expr"
            assert t["expr"].count("(") == t["expr"].count(")"), f"{where}: {t['expr']}"
    exprs = " ".join(t["expr"] for _, t in targets(dash))
    # The panels the issue asks for, by what they query.
    for metric in ("gateway_http_requests_total", "gateway_errors_total",
                   "gateway_http_request_duration_seconds_bucket",
                   "gateway_kafka_delivery_duration_seconds_bucket",
                   "gateway_produce_records_total", "gateway_kafka_batch_size_records",
                   "gateway_kafka_batch_size_bytes", "gateway_pipeline_queue_depth_requests",
                   "gateway_pipeline_queue_capacity_requests", "gateway_pipeline_in_flight_bytes",
                   "gateway_pipeline_in_flight_limit_bytes", "gateway_http_buffered_bytes",
                   "gateway_http_buffered_limit_bytes", "gateway_http_budget_rejections_total",
                   "gateway_consumer_lag_records", "gateway_consumer_instances",
                   "gateway_consumer_read_duration_seconds_bucket", "gateway_auth_failures_total",
                   "gateway_auth_acl_denials_total", "gateway_tls_handshakes_total",
                   "gateway_kafka_brokers_up", "gateway_cluster_members",
                   "gateway_cluster_forwards_total"):
        assert metric in exprs, f"no panel queries {metric}"
    assert "histogram_quantile(0.99" in exprs and "histogram_quantile(0.5" in exprs


# ------------------------------------------------------------- live run

@pytest.fixture(scope="module")
def workdir():
    path = tempfile.mkdtemp(prefix="gw-monitoring-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def topic():
    bootstrap = os.environ["KAFKA_BOOTSTRAP"]
    name = f"monitoring-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 3, 1)])[name].result(timeout=30)
    return name


@pytest.fixture(scope="module")
def gateway(workdir, topic):
    port = free_port()
    log_path = os.path.join(workdir, "gateway.log")
    log = open(log_path, "w")
    env = dict(os.environ, KAFKA_GATEWAY_KAFKA_BOOTSTRAP_SERVERS=os.environ["KAFKA_BOOTSTRAP"],
               RUST_LOG="warn")
    process = subprocess.Popen([os.environ["GATEWAY_BIN"], "--listen", f"127.0.0.1:{port}"],
                               env=env, stdout=log, stderr=log)
    try:
        deadline = time.time() + 30
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                if call(c, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None, open(log_path).read()[-3000:]
            assert time.time() < deadline, "the gateway was not ready in 30 s: " + open(log_path).read()[-3000:]
            time.sleep(0.1)
        yield {"port": port, "address": f"127.0.0.1:{port}", "log": log_path}
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="module")
def prometheus(workdir, gateway):
    """Debian's Prometheus running deploy/prometheus/prometheus.yml as
    shipped, the first target made the test gateway, the others left out,
    scraping and evaluating every second."""
    text = open(PROMETHEUS_YML).read()
    text = text.replace("gateway-1:8082", gateway["address"])
    text = re.sub(r"^\s*- gateway-\d+:8082\s*\n", "", text, flags=re.M)
    assert not re.search(r"gateway-\d+:8082", text), "an address left in"
    assert gateway["address"] in text
    text, n = re.subn(r"(?m)^(\s*)scrape_interval: \S+", r"\1scrape_interval: 1s", text)
    assert n == 1
    text, n = re.subn(r"(?m)^(\s*)evaluation_interval: \S+", r"\1evaluation_interval: 1s", text)
    assert n == 1
    text, n = re.subn(r"(?m)^(\s*)- alerts\.yml\s*$", r"\1- " + ALERTS, text)
    assert n == 1, "rule_files: [alerts.yml] not found"
    config = os.path.join(workdir, "prometheus.yml")
    with open(config, "w") as f:
        f.write(text)
    check = subprocess.run([PROMTOOL, "check", "config", config], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    port = free_port()
    log_path = os.path.join(workdir, "prometheus.log")
    log = open(log_path, "w")
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}",
         f"--storage.tsdb.path={os.path.join(workdir, 'tsdb')}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=log, cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                targets = api(base, "/api/v1/targets", timeout=2)["activeTargets"]
                if targets and all(t["health"] == "up" for t in targets):
                    break
            except (OSError, AssertionError, ValueError):
                pass
            assert process.poll() is None, open(log_path).read()[-3000:]
            assert time.time() < deadline, "Prometheus scraped no gateway in 30 s: " + \
                open(log_path).read()[-3000:]
            time.sleep(0.2)
        assert [t["labels"]["instance"] for t in targets] == [gateway["address"]]
        assert targets[0]["labels"]["job"] == "kafka-gateway"
        yield base
    finally:
        stop(process)
        log.close()


class Load:
    """LOAD_SECONDS of traffic: producers, 4xx senders, one consumer."""

    def __init__(self, port, topic, producers=4):
        self.port, self.topic = port, topic
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.statuses = {}
        self.read = 0
        self.errors = []
        self.threads = [threading.Thread(target=self.produce, args=(i,)) for i in range(producers)]
        self.threads.append(threading.Thread(target=self.unknown))
        self.threads.append(threading.Thread(target=self.consume))

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def count(self, kind, status):
        with self.lock:
            self.statuses[(kind, status)] = self.statuses.get((kind, status), 0) + 1

    def guarded(self, body):
        try:
            body()
        except Exception as e:  # reported by the test, not lost in a thread
            with self.lock:
                self.errors.append(repr(e))

    def produce(self, worker):
        def body():
            c = self.connection()
            seq = 0
            while not self.stopping.is_set():
                records = [{"key": f"k{worker}-{seq}-{i}", "value": {"worker": worker, "seq": seq, "i": i}}
                           for i in range(1 + seq % 20)]
                seq += 1
                status, _ = call(c, "POST", f"/topics/{self.topic}", {"records": records},
                                 {"Content-Type": JSON_V2, "Accept": V2})
                self.count("produce", status)
        self.guarded(body)

    def unknown(self):
        def body():
            c = self.connection()
            missing = f"no-such-topic-{uuid.uuid4().hex[:8]}"
            while not self.stopping.is_set():
                status, _ = call(c, "POST", f"/topics/{missing}", {"records": [{"value": 1}]},
                                 {"Content-Type": JSON_V2})
                self.count("unknown topic", status)
                status, _ = call(c, "GET", "/no/such/path")
                self.count("unknown path", status)
                status, _ = call(c, "GET", "/topics")
                self.count("topics", status)
                time.sleep(0.1)
        self.guarded(body)

    def consume(self):
        def body():
            c = self.connection()
            group = f"monitoring-{uuid.uuid4().hex[:8]}"
            status, answer = call(c, "POST", f"/consumers/{group}",
                                  {"name": "reader", "format": "json", "auto.offset.reset": "earliest"},
                                  {"Content-Type": V2})
            assert status == 200, answer
            base = f"/consumers/{group}/instances/reader"
            status, answer = call(c, "POST", f"{base}/subscription", {"topics": [self.topic]},
                                  {"Content-Type": V2})
            assert status == 204, (status, answer)
            while not self.stopping.is_set():
                status, answer = call(c, "GET", f"{base}/records?timeout=500&max_bytes=65536",
                                      headers={"Accept": JSON_V2})
                self.count("consume", status)
                if status == 200:
                    with self.lock:
                        self.read += len(answer)
                # Reads lag behind the producers (max_bytes), so lag is seen.
                time.sleep(0.2)
            # The instance is left open: gateway_consumer_instances and the
            # lag are queried after the load; the gateway's stop ends it.
        self.guarded(body)

    def run(self, seconds):
        for t in self.threads:
            t.start()
        time.sleep(seconds)
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=60)
        return self


@pytest.fixture(scope="module")
def loaded(gateway, prometheus, topic):
    """The load, then two scrapes more; (start, end, load)."""
    start = time.time()
    load = Load(gateway["port"], topic).run(LOAD_SECONDS)
    end = time.time()
    time.sleep(2.5)
    assert not load.errors, load.errors
    s = load.statuses
    assert s.get(("produce", 200), 0) > 100, s
    assert not any(status >= 500 for (_, status) in s), s
    assert s.get(("unknown topic", 404), 0) > 10, s
    assert s.get(("unknown path", 404), 0) > 10, s
    assert s.get(("consume", 200), 0) > 5 and load.read > 0, (s, load.read)
    return start, end, load


@needs_prometheus
def test_every_dashboard_query_returns_data(prometheus, loaded):
    """Each target of each panel, Grafana's variables put in, as an instant
    query after the load: a non-empty result."""
    empty, allowed, failed = [], [], []
    for panel, target in targets(dashboard()):
        expr = load_renderer().expand(target["expr"], INSTANT_VALUES)
        assert "$" not in expr, f"a variable left in: {expr}"
        where = f"{panel['title']!r} {target['refId']}: {expr}"
        try:
            data = api(prometheus, "/api/v1/query", {"query": expr})
        except urllib.error.HTTPError as e:
            failed.append(f"{where}: {e.read().decode(errors='replace')}")
            continue
        assert data["resultType"] == "vector", where
        if not data["result"]:
            (allowed if allowed_empty(expr) else empty).append(where)
    assert not failed, "queries Prometheus refused:\n" + "\n".join(failed)
    if allowed:
        print("cluster queries without data (a single gateway, no [cluster]):\n" + "\n".join(allowed))
    assert not empty, f"{len(empty)} dashboard queries returned no data:\n" + "\n".join(empty)


@needs_prometheus
def test_alert_rules_load_and_stay_quiet_under_healthy_load(prometheus, loaded):
    names = re.findall(r"^\s*- alert: (\S+)", open(ALERTS).read(), re.M)
    groups = api(prometheus, "/api/v1/rules")["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"] if r["type"] == "alerting"}
    assert sorted(rules) == sorted(names), f"loaded {sorted(rules)}, alerts.yml has {sorted(names)}"
    for name, rule in rules.items():
        # Evaluated (every second) and without error: every series it
        # names parses and the expression runs.
        assert rule["health"] == "ok", f"{name}: {rule.get('lastError')}"
        assert rule["lastEvaluation"] and not rule["lastEvaluation"].startswith("0001"), name
        assert rule["labels"].get("severity") in ("critical", "warning"), name
        assert rule["annotations"].get("summary") and rule["annotations"].get("description"), name
    # Nothing pending or firing under healthy load: no exceptions.
    active = {name: [(a["state"], a["labels"]) for a in rule["alerts"]]
              for name, rule in rules.items() if rule["alerts"] or rule["state"] != "inactive"}
    assert not active, f"alerts active under healthy load: {active}"
    assert api(prometheus, "/api/v1/alerts")["alerts"] == []


@needs_prometheus
def test_dashboard_renders_as_svg_from_the_run(prometheus, loaded, tmp_path):
    start, end, _ = loaded
    renderer = load_renderer()
    dash = dashboard()
    svg = renderer.render(dash, prometheus, start, end + 2, step=1.0, scrape_interval=1.0)
    if os.environ.get("UPDATE_DASHBOARD_SVG"):
        out = os.path.join(ROOT, "docs", "dashboard.svg")
    else:
        out = str(tmp_path / "dashboard.svg")
    with open(out, "w") as f:
        f.write(svg)
    print(f"dashboard picture: {out}")
    root = ET.parse(out).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    groups = {g.get("id"): g for g in root.iter("{http://www.w3.org/2000/svg}g")}
    assert len(groups) == len(dash["panels"])
    no_data = []
    for panel in dash["panels"]:
        g = groups[f"panel-{panel['id']}"]
        texts = [t.text for t in g.iter("{http://www.w3.org/2000/svg}text")]
        assert panel["title"] in texts
        drawn = list(g.iter("{http://www.w3.org/2000/svg}polyline")) + \
            list(g.iter("{http://www.w3.org/2000/svg}circle"))
        if "No data" in texts or not drawn:
            if not all(allowed_empty(t["expr"]) for t in panel["targets"]):
                no_data.append(panel["title"])
    assert not no_data, f"panels drawn without data: {no_data}"
