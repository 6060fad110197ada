"""Confluent's own Python client against the gateway: records produced as
Avro through the gateway decode with Confluent's AvroDeserializer, fed by
the gateway's Schema Registry API; a schema registered with Confluent's
SchemaRegistryClient is usable by id through the gateway; and the seed
000 flow (a client-framed Avro record sent as base64 binary) decodes too.

Run by tests/run.sh with GATEWAY_URL and KAFKA_BOOTSTRAP set.
"""
import base64
import json
import os
import urllib.error
import urllib.request
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

GATEWAY = os.environ["GATEWAY_URL"]
BOOTSTRAP = os.environ["KAFKA_BOOTSTRAP"]

ORDER = json.dumps({
    "type": "record", "namespace": "io.confluent.developer", "name": "Order",
    "fields": [
        {"name": "product_id", "type": "int"},
        {"name": "customer_id", "type": "int"},
        {"name": "product_name", "type": ["null", "string"], "default": None},
    ],
})


def new_topic():
    name = f"py-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result(timeout=15)
    return name


def post(path, content_type, body):
    request = urllib.request.Request(
        GATEWAY + path, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": content_type, "Accept": "application/vnd.kafka.v2+json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def read(topic, count):
    consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"py-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    out = []
    for _ in range(150):
        message = consumer.poll(0.1)
        if message is not None and message.error() is None:
            out.append(message)
        if len(out) == count:
            break
    consumer.close()
    assert len(out) == count, f"read {len(out)} of {count} records from {topic}"
    return out


@pytest.fixture(scope="module")
def registry():
    return SchemaRegistryClient({"url": GATEWAY})


def test_avro_produced_through_the_gateway_decodes_with_confluents_deserializer(registry):
    topic = new_topic()
    records = [{"product_id": 1, "customer_id": 2, "product_name": {"string": "pen"}},
               {"product_id": 3, "customer_id": 4, "product_name": None}]
    status, answer = post(f"/topics/{topic}", "application/vnd.kafka.avro.v2+json",
                          {"value_schema": ORDER, "records": [{"value": r} for r in records]})
    assert status == 200, answer
    assert isinstance(answer["value_schema_id"], int)
    deserialize = AvroDeserializer(registry)
    decoded = [deserialize(m.value(), SerializationContext(topic, MessageField.VALUE))
               for m in read(topic, 2)]
    assert decoded == [
        {"product_id": 1, "customer_id": 2, "product_name": "pen"},
        {"product_id": 3, "customer_id": 4, "product_name": None},
    ]
    # The client sees the subject the gateway registered.
    latest = registry.get_latest_version(f"{topic}-value")
    assert latest.schema_id == answer["value_schema_id"]


def test_a_schema_registered_with_confluents_client_is_usable_by_id(registry):
    topic = new_topic()
    schema_id = registry.register_schema(f"{topic}-value", Schema(ORDER, "AVRO"))
    status, answer = post(f"/topics/{topic}", "application/vnd.kafka.avro.v2+json",
                          {"value_schema_id": schema_id,
                           "records": [{"value": {"product_id": 7, "customer_id": 8}}]})
    assert status == 200, answer
    assert answer["value_schema_id"] == schema_id
    (message,) = read(topic, 1)
    value = AvroDeserializer(registry)(message.value(),
                                        SerializationContext(topic, MessageField.VALUE))
    assert value == {"product_id": 7, "customer_id": 8, "product_name": None}


def test_the_seed_client_framed_avro_sent_as_binary_decodes(registry):
    """The seed 000 flow: the client frames Avro itself and sends it as
    BINARY, through v3 exactly as the seed's curl does (STRING key, Basic
    auth header, /kafka/v3 path), and through v2 binary."""
    topic = new_topic()
    serialize = AvroSerializer(registry, ORDER)
    framed = serialize({"product_id": 19287, "customer_id": 8737,
                        "product_name": "AirSwift Light Sneakers"},
                       SerializationContext(topic, MessageField.VALUE))
    assert framed[0] == 0
    payload = base64.b64encode(framed).decode()
    with urllib.request.urlopen(GATEWAY + "/v3/clusters", timeout=30) as response:
        cluster_id = json.loads(response.read())["data"][0]["cluster_id"]
    request = urllib.request.Request(
        f"{GATEWAY}/kafka/v3/clusters/{cluster_id}/topics/{topic}/records", method="POST",
        data=('{"key":{"type":"STRING","data":"k1"}, "value":{"type":"BINARY","data":"%s"}}'
              % payload).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": "Basic " + base64.b64encode(b"key:secret").decode()})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert answer["error_code"] == 200 and answer["offset"] == 0, answer
    assert answer["value"] == {"type": "BINARY", "size": len(framed)}
    status, answer = post(f"/topics/{topic}", "application/vnd.kafka.binary.v2+json",
                          {"records": [{"key": base64.b64encode(b"k2").decode(),
                                        "value": payload}]})
    assert status == 200, answer
    deserialize = AvroDeserializer(registry)
    for message, key in zip(read(topic, 2), [b"k1", b"k2"]):
        assert message.key() == key
        value = deserialize(message.value(), SerializationContext(topic, MessageField.VALUE))
        assert value == {"product_id": 19287, "customer_id": 8737,
                         "product_name": "AirSwift Light Sneakers"}


def test_json_schema_produced_through_the_gateway_decodes_with_confluents_deserializer(registry):
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer

    topic = new_topic()
    schema = json.dumps({"type": "object", "title": "Product",
                         "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
                         "required": ["id"]})
    status, answer = post(f"/topics/{topic}", "application/vnd.kafka.jsonschema.v2+json",
                          {"value_schema": schema, "records": [{"value": {"id": 5, "name": "cup"}}]})
    assert status == 200, answer
    (message,) = read(topic, 1)
    deserialize = JSONDeserializer(None, schema_registry_client=registry)
    value = deserialize(message.value(), SerializationContext(topic, MessageField.VALUE))
    assert value == {"id": 5, "name": "cup"}


def test_protobuf_produced_through_the_gateway_decodes_with_confluents_deserializer(tmp_path):
    import importlib
    import subprocess
    import sys

    from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer

    proto = 'syntax = "proto3";\npackage shop;\nmessage Order {\n  int32 product_id = 1;\n  string name = 2;\n}\n'
    (tmp_path / "order.proto").write_text(proto)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp_path}",
                    f"--python_out={tmp_path}", str(tmp_path / "order.proto")], check=True)
    sys.path.insert(0, str(tmp_path))
    order_pb2 = importlib.import_module("order_pb2")

    topic = new_topic()
    status, answer = post(f"/topics/{topic}", "application/vnd.kafka.protobuf.v2+json",
                          {"value_schema": proto, "records": [{"value": {"productId": 9, "name": "ink"}}]})
    assert status == 200, answer
    (message,) = read(topic, 1)
    deserialize = ProtobufDeserializer(order_pb2.Order, {"use.deprecated.format": False})
    value = deserialize(message.value(), SerializationContext(topic, MessageField.VALUE))
    assert value.product_id == 9 and value.name == "ink"


def test_avro_and_json_references_registered_with_confluents_client(registry):
    from confluent_kafka.schema_registry import SchemaReference
    from confluent_kafka.schema_registry.json_schema import JSONDeserializer

    topic = new_topic()
    address = json.dumps({"type": "record", "name": "Address", "namespace": "shop",
                          "fields": [{"name": "city", "type": "string"}]})
    customer = json.dumps({"type": "record", "name": "Customer", "namespace": "shop",
                           "fields": [{"name": "name", "type": "string"},
                                      {"name": "home", "type": "shop.Address"}]})
    registry.register_schema(f"{topic}-address", Schema(address, "AVRO"))
    reference = SchemaReference("shop.Address", f"{topic}-address", 1)
    customer_id = registry.register_schema(f"{topic}-value",
                                           Schema(customer, "AVRO", [reference]))
    assert registry.get_referenced_by(f"{topic}-address", 1) == [customer_id]
    fetched = registry.get_schema(customer_id)
    assert [(r.name, r.subject, r.version) for r in fetched.references] == \
        [("shop.Address", f"{topic}-address", 1)]
    status, answer = post(f"/topics/{topic}", "application/vnd.kafka.avro.v2+json",
                          {"value_schema_id": customer_id,
                           "records": [{"value": {"name": "Ann", "home": {"city": "Delft"}}}]})
    assert status == 200, answer
    (message,) = read(topic, 1)
    value = AvroDeserializer(registry)(message.value(),
                                        SerializationContext(topic, MessageField.VALUE))
    assert value == {"name": "Ann", "home": {"city": "Delft"}}

    json_topic = new_topic()
    city = json.dumps({"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]})
    person = json.dumps({"type": "object", "title": "Person",
                         "properties": {"name": {"type": "string"},
                                        "address": {"$ref": "city.json"}}})
    registry.register_schema(f"{json_topic}-city", Schema(city, "JSON"))
    person_id = registry.register_schema(
        f"{json_topic}-value",
        Schema(person, "JSON", [SchemaReference("city.json", f"{json_topic}-city", 1)]))
    status, answer = post(f"/topics/{json_topic}", "application/vnd.kafka.jsonschema.v2+json",
                          {"value_schema_id": person_id,
                           "records": [{"value": {"name": "Bo", "address": {"city": "Lyon"}}}]})
    assert status == 200, answer
    (message,) = read(json_topic, 1)
    value = JSONDeserializer(None, schema_registry_client=registry)(
        message.value(), SerializationContext(json_topic, MessageField.VALUE))
    assert value == {"name": "Bo", "address": {"city": "Lyon"}}


def test_protobuf_imports_registered_by_confluents_serializer(registry, tmp_path):
    """Confluent's ProtobufSerializer registers a message's imports as
    references, each as a base64 FileDescriptorProto; the gateway then
    produces with that schema id and Confluent's deserializer reads it."""
    import importlib
    import subprocess
    import sys

    from confluent_kafka.schema_registry.protobuf import (ProtobufDeserializer,
                                                          ProtobufSerializer)

    (tmp_path / "money.proto").write_text(
        'syntax = "proto3";\npackage billing;\n'
        'message Money {\n  string currency = 1;\n  int64 cents = 2;\n}\n')
    (tmp_path / "invoice.proto").write_text(
        'syntax = "proto3";\npackage billing;\nimport "money.proto";\n'
        'message Invoice {\n  string number = 1;\n  billing.Money total = 2;\n}\n')
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp_path}",
                    f"--python_out={tmp_path}", str(tmp_path / "money.proto"),
                    str(tmp_path / "invoice.proto")], check=True)
    sys.path.insert(0, str(tmp_path))
    invoice_pb2 = importlib.import_module("invoice_pb2")

    topic = new_topic()
    serialize = ProtobufSerializer(invoice_pb2.Invoice, registry,
                                   {"use.deprecated.format": False})
    framed = serialize(invoice_pb2.Invoice(number="A1"),
                       SerializationContext(topic, MessageField.VALUE))
    schema_id = int.from_bytes(framed[1:5], "big")
    registered = registry.get_schema(schema_id)
    assert [r.name for r in registered.references] == ["money.proto"]

    status, answer = post(f"/topics/{topic}", "application/vnd.kafka.protobuf.v2+json",
                          {"value_schema_id": schema_id,
                           "records": [{"value": {"number": "B2",
                                                  "total": {"currency": "EUR", "cents": 250}}}]})
    assert status == 200, answer
    (message,) = read(topic, 1)
    deserialize = ProtobufDeserializer(invoice_pb2.Invoice, {"use.deprecated.format": False})
    value = deserialize(message.value(), SerializationContext(topic, MessageField.VALUE))
    assert value.number == "B2" and value.total.currency == "EUR" and value.total.cents == 250


def test_records_framed_by_confluents_serializer_come_back_from_an_http_consumer(registry):
    """Avro that Confluent's AvroSerializer framed, read back through the
    gateway's v2 consumer in Avro's JSON encoding (unions named)."""
    topic = new_topic()
    schema = json.dumps({"type": "record", "name": "Reading", "fields": [
        {"name": "sensor", "type": "string"},
        {"name": "value", "type": ["null", "double"], "default": None}]})
    serialize = AvroSerializer(registry, schema)
    values = [{"sensor": "a", "value": 1.5}, {"sensor": "b", "value": None}]
    framed = [serialize(v, SerializationContext(topic, MessageField.VALUE)) for v in values]
    status, answer = post(f"/topics/{topic}", "application/vnd.kafka.binary.v2+json",
                          {"records": [{"value": base64.b64encode(f).decode()} for f in framed]})
    assert status == 200, answer
    group = f"g-{topic}"
    status, created = post(f"/consumers/{group}", "application/vnd.kafka.v2+json",
                           {"name": "c", "format": "avro", "auto.offset.reset": "earliest"})
    assert status == 200, created
    base = f"/consumers/{group}/instances/c"
    request = urllib.request.Request(GATEWAY + base + "/subscription", method="POST",
                                     data=json.dumps({"topics": [topic]}).encode(),
                                     headers={"Content-Type": "application/vnd.kafka.v2+json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 204
    got = []
    for _ in range(20):
        request = urllib.request.Request(GATEWAY + base + "/records",
                                         headers={"Accept": "application/vnd.kafka.avro.v2+json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            got.extend(json.loads(response.read()))
        if len(got) >= 2:
            break
    assert [r["value"] for r in got] == [{"sensor": "a", "value": {"double": 1.5}},
                                         {"sensor": "b", "value": None}]
    request = urllib.request.Request(GATEWAY + base, method="DELETE")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 204
