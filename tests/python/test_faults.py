"""Faults, against tansu on sqlite storage (it survives kill -9) and the
gateway binary, with records read back by Confluent's consumer:

- the broker killed with kill -9 and restarted three times under
  concurrent produce load: every record answered 200 is in Kafka, once;
- the broker down (paused) for longer than kafka.delivery_timeout_ms: every request
  is answered within its deadline (503/50302, or per-record 50003),
  /readyz says 503, memory stays bounded, and produce works again when
  the broker returns;
- the gateway sent SIGTERM under load: every request it accepted is
  answered, and what is in Kafka is exactly what was answered 200; SIGKILL
  loses nothing answered 200.

tansu 0.6.0 answers a retried (duplicate) batch after a restart with base
offset 0: such records are stored once, but their answers carry offsets
0, 1, 2...; they are counted apart, as the broker's.

Run by tests/run.sh with GATEWAY_BIN and TANSU_BIN set.
"""
import collections
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

GATEWAY_BIN = os.environ["GATEWAY_BIN"]
TANSU_BIN = os.environ.get("TANSU_BIN", "")
JSON_V2 = "application/vnd.kafka.json.v2+json"

pytestmark = pytest.mark.skipif(not TANSU_BIN, reason="TANSU_BIN is not set")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


class Broker:
    """tansu with sqlite storage in a folder of its own, restartable."""

    def __init__(self, storage="sqlite://tansu.db"):
        self.storage = storage
        self.dir = tempfile.mkdtemp(prefix="gw-faults-tansu-")
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.process = None
        self.log = open(os.path.join(self.dir, "tansu.log"), "a")

    def start(self):
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [TANSU_BIN, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", self.storage],
            cwd=self.dir, stdout=self.log, stderr=self.log)
        wait_port(self.port)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def pause(self):
        """Down as a partitioned broker is: connections hang, nothing
        answers (and nothing of its state is lost)."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self):
        self.process.send_signal(signal.SIGCONT)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.resume()
            self.kill()


class Gateway:
    def __init__(self, bootstrap, **settings):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="gw-faults-gateway-")
        env = dict(os.environ, KAFKA_GATEWAY_KAFKA_BOOTSTRAP_SERVERS=bootstrap,
                   RUST_LOG="warn")
        for key, value in settings.items():
            env[f"KAFKA_GATEWAY_{key.upper()}"] = str(value)
        self.log = open(os.path.join(self.dir, "gateway.log"), "w")
        self.process = subprocess.Popen([GATEWAY_BIN, "--listen", f"127.0.0.1:{self.port}"],
                                        env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.get("/readyz")[0] == 200:
                return
            time.sleep(0.1)
        raise AssertionError(open(os.path.join(self.dir, "gateway.log")).read())

    def get(self, path):
        try:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        except OSError:
            return None, b""

    def rss_mib(self):
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0

    def stop(self, sig=signal.SIGTERM):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=60)


def create_topic(bootstrap, partitions=3):
    name = f"faults-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)
    return name


class Load:
    """Threads that each keep one connection and send one record per
    request, named by a unique id, and note what each id got."""

    def __init__(self, port, topic, threads=6, timeout=60):
        self.port, self.topic, self.timeout = port, topic, timeout
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}          # id -> (partition, offset)
        self.failed = {}         # id -> error code or HTTP status
        self.unanswered = set()  # sent, then the connection broke
        self.refused = 0         # could not connect (not accepted)
        self.latencies = []
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join()

    def run(self, worker):
        connection = None
        seq = 0
        while not self.stopping.is_set():
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", self.port,
                                                        timeout=self.timeout)
                try:
                    connection.connect()
                except OSError:
                    connection = None
                    with self.lock:
                        self.refused += 1
                    time.sleep(0.05)
                    continue
            seq += 1
            rid = f"w{worker}-{seq}"
            body = json.dumps({"records": [{"value": {"id": rid}}]})
            started = time.time()
            try:
                connection.request("POST", f"/topics/{self.topic}", body,
                                   {"Content-Type": JSON_V2})
                response = connection.getresponse()
                answer = json.loads(response.read() or b"{}")
            except (OSError, http.client.HTTPException, ValueError):
                with self.lock:
                    self.unanswered.add(rid)
                connection.close()
                connection = None
                continue
            with self.lock:
                self.latencies.append(time.time() - started)
                if response.status == 200 and answer["offsets"][0]["error_code"] is None:
                    entry = answer["offsets"][0]
                    self.acked[rid] = (entry["partition"], entry["offset"])
                elif response.status == 200:
                    self.failed[rid] = answer["offsets"][0]["error_code"]
                else:
                    self.failed[rid] = answer.get("error_code", response.status)
            if response.getheader("Connection", "").lower() == "close":
                connection.close()
                connection = None


def read_ids(bootstrap, topic, partitions=3):
    """Every record of the topic: id -> [(partition, offset), ...], read to
    each partition's end (its end-of-partition event)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"faults-{uuid.uuid4()}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in range(partitions)}
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    found = collections.defaultdict(list)
    done = {p for p, end in ends.items() if end == 0}
    deadline = time.time() + 60
    while len(done) < partitions and time.time() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            if message.error().code() == -191:  # partition EOF
                done.add(message.partition())
            continue
        found[json.loads(message.value())["id"]].append((message.partition(), message.offset()))
        # Done at the partition's end event only: tansu 0.6's end offsets
        # (ListOffsets) can fall short of its last batch, so a record at
        # the reported end offset is still read.
    consumer.close()
    return found


@pytest.fixture
def broker():
    b = Broker()
    b.start()
    yield b
    b.stop()


def test_broker_killed_three_times_under_load_loses_and_duplicates_nothing(broker):
    topic = create_topic(broker.bootstrap)
    gateway = Gateway(broker.bootstrap)
    load = Load(gateway.port, topic).start()
    try:
        for _ in range(3):
            time.sleep(3)
            broker.kill()
            time.sleep(1)
            broker.start()
        time.sleep(4)
    finally:
        load.stop()
        gateway.stop()
    stored = read_ids(broker.bootstrap, topic)
    lost = [rid for rid in load.acked if rid not in stored]
    twice = {rid: places for rid, places in stored.items() if len(places) > 1}
    moved = {rid: place for rid, place in load.acked.items()
             if rid in stored and place != stored[rid][0]}
    # Confirmed without an offset (librdkafka's duplicate-sequence
    # success): 200 with offset null, stored once.
    no_offset = [rid for rid, (_, offset) in moved.items() if offset is None]
    # The broker's quirk: a retried batch answered with base offset 0, so
    # the answer names a lower offset in the right partition.
    quirk = [rid for rid, (partition, offset) in moved.items()
             if offset is not None and partition == stored[rid][0][0]
             and offset < stored[rid][0][1]]
    wrong = [rid for rid in moved if rid not in no_offset and rid not in quirk]
    print(f"acked {len(load.acked)}, failed {len(load.failed)}, unanswered "
          f"{len(load.unanswered)}, stored {len(stored)}, confirmed without offset "
          f"{len(no_offset)}, offsets from the broker's duplicate answers {len(quirk)}")
    assert len(load.acked) > 500, "too little load to mean anything"
    assert not lost, f"{len(lost)} records answered 200 are not in Kafka: {lost[:5]}"
    assert not twice, f"{len(twice)} records are in Kafka twice: {list(twice.items())[:5]}"
    assert not wrong, f"offsets answered wrongly: {[(r, moved[r], stored[r]) for r in wrong[:5]]}"
    # Every connection break was the broker's doing, never an unanswered
    # request on a gateway that stayed up.
    assert not load.unanswered, sorted(load.unanswered)[:5]


@pytest.fixture
def memory_broker():
    # tansu 0.6.0 mishandles an idempotent producer whose records timed out:
    # its sqlite engine panics in its idempotence check when librdkafka
    # retries (tansu-storage lite.rs, "more or less than one row") and is of
    # no use after; its memory engine answers ProducerFenced to the epoch
    # librdkafka bumps. The outage test therefore pauses (rather than kills)
    # a memory-engine broker and runs the gateway without idempotence, so
    # that it tests the gateway, not the broker.
    b = Broker(storage="memory://tansu/")
    b.start()
    yield b
    b.stop()


def test_a_long_broker_outage_is_answered_in_time_and_produce_recovers(memory_broker):
    broker = memory_broker
    topic = create_topic(broker.bootstrap)
    gateway = Gateway(broker.bootstrap, kafka_delivery_timeout_ms=3000,
                      kafka_metadata_refresh_interval_ms=500,
                      kafka_enable_idempotence="false")
    try:
        load = Load(gateway.port, topic, threads=4, timeout=30).start()
        time.sleep(1)
        broker.pause()
        down_at = time.time()
        ready = None
        while time.time() - down_at < 20:
            ready = gateway.get("/readyz")[0]
            if ready == 503:
                break
            time.sleep(0.2)
        assert ready == 503, "readyz did not notice the broker was down"
        rss = [gateway.rss_mib()]
        while time.time() - down_at < 15:
            time.sleep(1)
            rss.append(gateway.rss_mib())
        load.stop()
        codes = collections.Counter(load.failed.values())
        print(f"during the outage: {dict(codes)}, rss {min(rss):.0f}-{max(rss):.0f} MiB")
        assert set(codes) <= {50302, 50003, 503}, codes
        assert sum(codes.values()) > 0
        # Every request answered within delivery_timeout plus margin.
        assert max(load.latencies) < 3 + 10, max(load.latencies)
        assert not load.unanswered
        assert max(rss) < 400
        broker.resume()
        deadline = time.time() + 60
        status = None
        while time.time() < deadline:
            c = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
            c.request("POST", f"/topics/{topic}",
                      json.dumps({"records": [{"value": {"id": "after"}}]}),
                      {"Content-Type": JSON_V2})
            r = c.getresponse()
            answer = json.loads(r.read())
            status = (r.status, answer.get("offsets", [{}])[0].get("error_code"))
            if status == (200, None):
                break
            time.sleep(0.5)
        assert status == (200, None), status
        assert gateway.get("/readyz")[0] == 200
    finally:
        gateway.stop()
    assert "after" in read_ids(broker.bootstrap, topic)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_gateway_stopped_under_load_answers_what_it_accepted(broker, sig):
    topic = create_topic(broker.bootstrap)
    gateway = Gateway(broker.bootstrap)
    load = Load(gateway.port, topic, threads=8).start()
    time.sleep(3)
    gateway.stop(sig)
    time.sleep(0.5)
    load.stop()
    stored = read_ids(broker.bootstrap, topic)
    lost = [rid for rid in load.acked if rid not in stored]
    print(f"{sig.name}: acked {len(load.acked)}, unanswered {len(load.unanswered)}, "
          f"refused {load.refused}, stored {len(stored)}")
    assert len(load.acked) > 200
    assert not lost, f"{len(lost)} records answered 200 are not in Kafka"
    assert all(len(p) == 1 for p in stored.values())
    if sig == signal.SIGTERM:
        # What the gateway wrote, it answered: a request whose connection
        # broke was never accepted (nothing of it is in Kafka).
        accepted_unanswered = [rid for rid in load.unanswered if rid in stored]
        assert not accepted_unanswered, accepted_unanswered[:5]
        assert set(stored) == set(load.acked), (len(stored), len(load.acked))
