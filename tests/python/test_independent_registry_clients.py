"""An independent Schema Registry client from PyPI against the gateway:
python-schema-registry-client (marcosschroh, module `schema_registry`), doing
what its documentation (docs/client.md, docs/serializer.md, its README) shows:
register, look up by id and by subject/version, check a schema is registered,
evolve compatibly and get refused incompatibly, read and set the global and
the subject compatibility level, test compatibility, delete a version and a
subject (soft, then permanent), and round-trip records through its Avro and
JSON message serializers.

The expected answers are Confluent's (its Schema Registry API reference and
RestApiTest in confluentinc/schema-registry; the error table in
shared/API.md). Issue #10. Run by tests/run.sh with GATEWAY_URL set.
"""
import json
import os
import struct
import uuid

import pytest
from schema_registry.client import SchemaRegistryClient, errors, schema
from schema_registry.serializers import AvroMessageSerializer, JsonMessageSerializer

GATEWAY = os.environ["GATEWAY_URL"]

USER_V1 = {
    "type": "record", "namespace": "io.example.indep", "name": "User",
    "fields": [
        {"name": "name", "type": "string"},
        {"name": "age", "type": "int"},
    ],
}
# v1 plus an optional field with a default: backward compatible.
USER_V2 = {
    **USER_V1,
    "fields": USER_V1["fields"] + [
        {"name": "favorite_color", "type": ["null", "string"], "default": None},
    ],
}
# `age` becomes a string: not readable from v1 data, so refused under BACKWARD.
USER_INCOMPATIBLE = {
    **USER_V1,
    "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "string"}],
}

JSON_USER = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "JsonUser",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
    },
    "required": ["name", "age"],
}


def new_subject():
    return f"indep-py-{uuid.uuid4().hex[:12]}-value"


def new_client():
    """A client with empty caches, so every call goes to the registry."""
    return SchemaRegistryClient(url=GATEWAY)


def raw(client, method, path, body=None, params=None):
    """The library's own transport (SchemaRegistryClient.request, with its
    headers), for what its methods do not expose: `?permanent=true` and the
    error codes of the answers its methods turn into None or []."""
    response = client.request(client.url_manager.url + path.lstrip("/"), method=method,
                              body=body, params=params)
    return response.status_code, response.json()


@pytest.fixture
def client():
    return new_client()


def test_register_and_look_up_avro_by_id_and_by_subject_version(client):
    subject = new_subject()
    avro_user = schema.AvroSchema(USER_V1)

    # register() first asks whether the schema is there (POST /subjects/{s}:
    # 404 for a new subject), then registers it (POST /subjects/{s}/versions).
    schema_id = client.register(subject, avro_user)
    assert isinstance(schema_id, int)

    # The same schema again, from a client with no cache: the same id.
    assert new_client().register(subject, schema.AvroSchema(USER_V1)) == schema_id

    # Look up by id.
    by_id = new_client().get_by_id(schema_id)
    assert isinstance(by_id, schema.AvroSchema)
    # The same schema (as JSON: Confluent answers Avro's canonical text, key order aside).
    assert by_id.raw_schema == USER_V1

    # Look up by subject and version: latest, then 1.
    latest = new_client().get_schema(subject)
    assert latest is not None
    assert (latest.subject, latest.schema_id, latest.version) == (subject, schema_id, 1)
    assert latest.schema.raw_schema == USER_V1
    first = new_client().get_schema(subject, version=1)
    assert first is not None and (first.schema_id, first.version) == (schema_id, 1)

    # Check it is registered (POST /subjects/{s}).
    found = new_client().check_version(subject, schema.AvroSchema(USER_V1))
    assert found is not None
    assert (found.subject, found.schema_id, found.version) == (subject, schema_id, 1)

    assert client.get_versions(subject) == [1]
    assert subject in client.get_subjects()

    pairs = client.get_schema_subject_versions(schema_id)
    assert pairs is not None
    # Every subject/version using the id: this one among them (the same
    # schema under another subject has the same id).
    assert (subject, 1) in [(p.subject, p.version) for p in pairs]


def test_lookups_of_what_is_not_there(client):
    subject = new_subject()
    # An unknown subject: every lookup says not found (the library maps 404
    # to None / []); Confluent's codes: 40401 subject, 40402 version, 40403 schema.
    assert client.check_version(subject, schema.AvroSchema(USER_V1)) is None
    assert client.get_schema(subject) is None
    assert client.get_versions(subject) == []
    assert raw(client, "POST", f"/subjects/{subject}",
               {"schema": json.dumps(USER_V1)})[1]["error_code"] == 40401
    assert raw(client, "GET", f"/subjects/{subject}/versions/latest")[1]["error_code"] == 40401

    client.register(subject, schema.AvroSchema(USER_V1))
    # A known subject, a schema it does not have: 40403; a version it does not have: 40402.
    assert new_client().check_version(subject, schema.AvroSchema(USER_V2)) is None
    status, body = raw(client, "POST", f"/subjects/{subject}", {"schema": json.dumps(USER_V2)})
    assert (status, body["error_code"]) == (404, 40403)
    assert new_client().get_schema(subject, version=7) is None
    status, body = raw(client, "GET", f"/subjects/{subject}/versions/7")
    assert (status, body["error_code"]) == (404, 40402)
    # An id nobody has: 404 / 40403, get_by_id answers None.
    assert client.get_by_id(2_000_000_000) is None
    status, body = raw(client, "GET", "/schemas/ids/2000000000")
    assert (status, body["error_code"]) == (404, 40403)


def test_evolve_compatibly_then_be_refused_incompatibly(client):
    subject = new_subject()
    id1 = client.register(subject, schema.AvroSchema(USER_V1))

    # test_compatibility: POST /compatibility/subjects/{s}/versions/latest?verbose=false
    assert client.test_compatibility(subject, schema.AvroSchema(USER_V2)) is True
    assert client.test_compatibility(subject, schema.AvroSchema(USER_INCOMPATIBLE)) is False
    # Against version 1 explicitly, and verbose: the answer says why.
    assert client.test_compatibility(subject, schema.AvroSchema(USER_V2), version=1) is True
    verbose = client.test_compatibility(subject, schema.AvroSchema(USER_INCOMPATIBLE), verbose=True)
    assert verbose["is_compatible"] is False
    assert verbose.get("messages"), verbose

    id2 = client.register(subject, schema.AvroSchema(USER_V2))
    assert id2 != id1
    assert client.get_versions(subject) == [1, 2]
    latest = new_client().get_schema(subject)
    assert (latest.schema_id, latest.version) == (id2, 2)

    # Incompatible: 409, and Confluent's body carries error_code 409.
    with pytest.raises(errors.ClientError) as refused:
        client.register(subject, schema.AvroSchema(USER_INCOMPATIBLE))
    assert refused.value.http_code == 409
    assert refused.value.server_traceback["error_code"] == 409
    assert client.get_versions(subject) == [1, 2]


def test_global_compatibility_level_read_and_set_at_config_slash(client):
    # get_compatibility() with no subject is GET /config/ and
    # update_compatibility(level) is PUT /config/ (with the trailing slash:
    # the library formats "config/{subject}" with an empty subject). The
    # library's own test suite (test_get_global_compatibility) calls it
    # against Confluent's registry (its docker-compose.yaml runs
    # confluentinc/cp-schema-registry), where /config/ is /config.
    before = raw(client, "GET", "/config")[1]["compatibilityLevel"]
    try:
        assert client.get_compatibility() == before
        assert client.update_compatibility("FORWARD") is True
        assert client.get_compatibility() == "FORWARD"
        assert raw(client, "GET", "/config")[1] == {"compatibilityLevel": "FORWARD"}
    finally:
        # Put it back (other tests share the gateway), whatever the above did.
        raw(client, "PUT", "/config", {"compatibility": before})
    assert raw(client, "GET", "/config")[1] == {"compatibilityLevel": before}


def test_subject_compatibility_level_set_read_and_applied(client):
    subject = new_subject()
    client.register(subject, schema.AvroSchema(USER_V1))
    global_level = raw(client, "GET", "/config")[1]["compatibilityLevel"]

    # PUT /config/{s} {"compatibility": ...}, GET /config/{s}.
    assert client.update_compatibility("FULL", subject) is True
    assert client.get_compatibility(subject) == "FULL"
    # FULL refuses the incompatible schema...
    with pytest.raises(errors.ClientError) as refused:
        client.register(subject, schema.AvroSchema(USER_INCOMPATIBLE))
    assert refused.value.http_code == 409
    # ...and NONE on the subject lets it in, whatever the global level.
    assert client.update_compatibility("NONE", subject) is True
    assert client.get_compatibility(subject) == "NONE"
    assert client.test_compatibility(subject, schema.AvroSchema(USER_INCOMPATIBLE)) is True
    client.register(subject, schema.AvroSchema(USER_INCOMPATIBLE))
    assert client.get_versions(subject) == [1, 2]
    assert raw(client, "GET", "/config")[1]["compatibilityLevel"] == global_level


def test_a_subject_without_a_level_of_its_own(client):
    subject = new_subject()
    client.register(subject, schema.AvroSchema(USER_V1))
    # Confluent answers GET /config/{s} for a subject with no subject-level
    # config with 404 / 40408 (ConfigResource.getSubjectLevelConfig without
    # defaultToGlobal; RestApiTest.testGetConfigNonExistentSubject); the
    # library raises ClientError carrying the body.
    with pytest.raises(errors.ClientError) as no_level:
        client.get_compatibility(subject)
    assert no_level.value.http_code == 404
    assert no_level.value.server_traceback["error_code"] == 40408


def test_default_to_global_falls_back_to_the_global_level(client):
    subject = new_subject()
    client.register(subject, schema.AvroSchema(USER_V1))
    # GET /config/{s}?defaultToGlobal=true: the global level when the
    # subject has none of its own (Confluent's API reference, GET /config/{subject}).
    status, body = raw(client, "GET", f"/config/{subject}", params={"defaultToGlobal": "true"})
    assert (status, body) == (200, raw(client, "GET", "/config")[1])


def test_an_unknown_compatibility_level_is_42203(client):
    subject = new_subject()
    client.register(subject, schema.AvroSchema(USER_V1))
    # The library checks levels itself, so through its transport.
    status, body = raw(client, "PUT", f"/config/{subject}", {"compatibility": "SIDEWAYS"})
    assert (status, body["error_code"]) == (422, 42203)
    status, body = raw(client, "PUT", "/config", {"compatibility": "SIDEWAYS"})
    assert (status, body["error_code"]) == (422, 42203)


def register_two_versions(client, subject):
    return (client.register(subject, schema.AvroSchema(USER_V1)),
            client.register(subject, schema.AvroSchema(USER_V2)))


def test_delete_a_version_then_the_subject_soft(client):
    subject = new_subject()
    id1, id2 = register_two_versions(client, subject)
    assert client.get_versions(subject) == [1, 2]

    # delete_version: DELETE /subjects/{s}/versions/1 answers the version.
    assert client.delete_version(subject, 1) == 1
    assert client.get_versions(subject) == [2]
    assert new_client().get_schema(subject, version=1) is None
    status, body = raw(client, "GET", f"/subjects/{subject}/versions/1")
    assert (status, body["error_code"]) == (404, 40402)
    # The id stays resolvable (so old records still decode).
    assert new_client().get_by_id(id1).raw_schema == USER_V1

    # delete_subject: DELETE /subjects/{s} answers the versions it deleted
    # (the live ones: 1 was already gone).
    assert client.delete_subject(subject) == [2]
    assert subject not in client.get_subjects()
    assert client.get_versions(subject) == []
    assert new_client().get_schema(subject) is None
    status, body = raw(client, "GET", f"/subjects/{subject}/versions")
    assert (status, body["error_code"]) == (404, 40401)
    assert new_client().get_by_id(id2).raw_schema == USER_V2
    # ?deleted=true lists it (soft-deleted).
    status, body = raw(client, "GET", "/subjects", params={"deleted": "true"})
    assert status == 200 and subject in body


def test_deleting_a_soft_deleted_version_again_is_40406(client):
    subject = new_subject()
    register_two_versions(client, subject)
    assert client.delete_version(subject, 1) == 1
    # Confluent answers 404 / 40406 (version soft-deleted); the library None.
    assert client.delete_version(subject, 1) is None
    status, body = raw(client, "DELETE", f"/subjects/{subject}/versions/1")
    assert (status, body["error_code"]) == (404, 40406)


def test_deleting_a_soft_deleted_subject_again_is_40404(client):
    subject = new_subject()
    register_two_versions(client, subject)
    assert client.delete_subject(subject) == [1, 2]
    # The library answers [] on any 404; Confluent's code is 40404.
    assert client.delete_subject(subject) == []
    status, body = raw(client, "DELETE", f"/subjects/{subject}")
    assert (status, body["error_code"]) == (404, 40404)


def test_a_permanent_version_delete_needs_a_soft_one_first_40407(client):
    subject = new_subject()
    register_two_versions(client, subject)
    status, body = raw(client, "DELETE", f"/subjects/{subject}/versions/1", params={"permanent": "true"})
    assert (status, body["error_code"]) == (404, 40407)
    assert client.get_versions(subject) == [1, 2]


def test_a_permanent_subject_delete_needs_a_soft_one_first_40405(client):
    subject = new_subject()
    register_two_versions(client, subject)
    status, body = raw(client, "DELETE", f"/subjects/{subject}", params={"permanent": "true"})
    assert (status, body["error_code"]) == (404, 40405)
    assert client.get_versions(subject) == [1, 2]


def test_permanent_delete_of_a_version_and_of_the_subject(client):
    subject = new_subject()
    register_two_versions(client, subject)
    assert client.delete_version(subject, 1) == 1
    status, body = raw(client, "DELETE", f"/subjects/{subject}/versions/1", params={"permanent": "true"})
    assert (status, body) == (200, 1)
    assert client.get_versions(subject) == [2]

    assert client.delete_subject(subject) == [2]
    # Permanent: every version left, soft-deleted ones included
    # (KafkaSchemaRegistry.deleteSubject with LookupFilter.INCLUDE_DELETED);
    # version 1 is already gone for good.
    status, body = raw(client, "DELETE", f"/subjects/{subject}", params={"permanent": "true"})
    assert (status, body) == (200, [2])
    status, body = raw(client, "GET", "/subjects", params={"deleted": "true"})
    assert status == 200 and subject not in body

    # The name is free again: a new registration starts at version 1.
    client_after = new_client()
    client_after.register(subject, schema.AvroSchema(USER_V1))
    assert client_after.get_versions(subject) == [1]


def test_avro_message_serializer_round_trip(client):
    subject = new_subject()
    serializer = AvroMessageSerializer(client)
    record = {"name": "Ada", "age": 36}

    encoded = serializer.encode_record_with_schema(subject, schema.AvroSchema(USER_V1), record)
    magic, schema_id = struct.unpack(">bI", encoded[:5])
    assert magic == 0
    assert schema_id == new_client().get_schema(subject).schema_id

    # A consumer elsewhere: a fresh client fetches the writer schema by id.
    assert AvroMessageSerializer(new_client()).decode_message(encoded) == record

    # Evolve, encode with v2, decode again.
    record2 = {"name": "Grace", "age": 45, "favorite_color": "blue"}
    encoded2 = serializer.encode_record_with_schema(subject, schema.AvroSchema(USER_V2), record2)
    assert struct.unpack(">bI", encoded2[:5])[1] != schema_id
    assert AvroMessageSerializer(new_client()).decode_message(encoded2) == record2
    assert client.get_versions(subject) == [1, 2]


def test_json_schema_register_look_up_and_serializer_round_trip(client):
    subject = new_subject()
    json_user = schema.JsonSchema(JSON_USER)

    # register sends "schemaType": "JSON".
    schema_id = client.register(subject, json_user)
    assert new_client().register(subject, schema.JsonSchema(JSON_USER)) == schema_id

    by_id = new_client().get_by_id(schema_id)
    assert isinstance(by_id, schema.JsonSchema)
    assert by_id.raw_schema == JSON_USER
    latest = new_client().get_schema(subject)
    assert isinstance(latest.schema, schema.JsonSchema)
    assert (latest.schema_id, latest.version) == (schema_id, 1)
    found = new_client().check_version(subject, schema.JsonSchema(JSON_USER))
    assert found is not None and (found.schema_id, found.version) == (schema_id, 1)

    serializer = JsonMessageSerializer(client)
    record = {"name": "Ada", "age": 36}
    encoded = serializer.encode_record_with_schema(subject, json_user, record)
    assert struct.unpack(">bI", encoded[:5]) == (0, schema_id)
    assert JsonMessageSerializer(new_client()).decode_message(encoded) == record
