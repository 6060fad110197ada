// Independent npm Schema Registry clients against the gateway (issue #10),
// doing what their own documentation shows:
//   - @kafkajs/confluent-schema-registry (docs/usage.md, docs/advanced-usage.md):
//     register Avro, JSON Schema and Protobuf, the subject's compatibility
//     level set at registration, look ups by subject/version/schema/id, and
//     encode/decode through the registry;
//   - @ovotech/schema-registry-api (its README's function table): the calls
//     kafkajs has none for: versions, compatibility tests, deletes.
// The expected answers are Confluent's (its Schema Registry API reference,
// RestApiTest in confluentinc/schema-registry, the error table in
// shared/API.md). Neither library exposes `?permanent=true` or the global
// level; those few calls go through fetch.
//
// Run by tests/run.sh: GATEWAY_URL=http://127.0.0.1:PORT node --test
'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { randomUUID } = require('node:crypto')
const {
  SchemaRegistry,
  SchemaType,
  COMPATIBILITY,
} = require('@kafkajs/confluent-schema-registry')
const ovo = require('@ovotech/schema-registry-api')
const { SchemaRegistryError } = require('@ovotech/schema-registry-api')

const GATEWAY = process.env.GATEWAY_URL
assert.ok(GATEWAY, 'GATEWAY_URL must be set')

const subjectName = () => `indep-js-${randomUUID().slice(0, 12)}-value`
// As the library's README writes it: `new SchemaRegistry({ host: 'http://registry:8081/' })`.
const newRegistry = () => new SchemaRegistry({ host: `${GATEWAY}/`, retry: { retries: 0 } })

const personV1 = (name) => ({
  type: 'record',
  name,
  namespace: 'examples',
  fields: [{ type: 'string', name: 'fullName' }],
})
// v1 plus an optional field with a default: backward compatible.
const personV2 = (name) => ({
  ...personV1(name),
  fields: [...personV1(name).fields, { type: ['null', 'int'], name: 'age', default: null }],
})
// fullName becomes an int: refused under BACKWARD.
const personIncompatible = (name) => ({
  ...personV1(name),
  fields: [{ type: 'int', name: 'fullName' }],
})
const avro = (schema) => ({ type: SchemaType.AVRO, schema: JSON.stringify(schema) })
const uniqueName = () => `Person${randomUUID().replace(/-/g, '').slice(0, 10)}`

// What a library error says: kafkajs's ResponseError has `status`;
// ovotech's SchemaRegistryError has `code` (Confluent's error_code).
async function rejection(promise) {
  try {
    await promise
  } catch (error) {
    return error
  }
  assert.fail('expected the call to be refused')
}

async function fetchJson(method, path, body) {
  const response = await fetch(`${GATEWAY}${path}`, {
    method,
    headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: response.status, body: await response.json() }
}

test('kafkajs: register Avro, look it up by subject, version, schema and id', async () => {
  const registry = newRegistry()
  const subject = subjectName()
  const name = uniqueName()
  const schema = avro(personV1(name))

  // register(): GET /config/{s} (404 for a new subject), POST
  // /subjects/{s}/versions, then PUT /config/{s} {"compatibility":"BACKWARD"}.
  const { id } = await registry.register(schema, { subject })
  assert.equal(typeof id, 'number')

  // The same schema again: the same id.
  assert.equal((await newRegistry().register(schema, { subject })).id, id)
  assert.equal(await newRegistry().getLatestSchemaId(subject), id)
  assert.equal(await newRegistry().getRegistryId(subject, 1), id)
  assert.equal(await newRegistry().getRegistryIdBySchema(subject, schema), id)

  // getSchema(id): the schema, parsed by avsc.
  const found = await newRegistry().getSchema(id)
  assert.equal(found.name, `examples.${name}`)
  assert.deepEqual(found.fields.map((f) => f.name), ['fullName'])

  // A schema the subject does not have: ConfluentSchemaRegistryError (404 / 40403 underneath).
  const missing = await rejection(
    newRegistry().getRegistryIdBySchema(subject, avro(personV2(name))),
  )
  // (the library does not export its error classes: their names tell them apart)
  assert.equal(missing.name, 'ConfluentSchemaRegistryError', String(missing))
  // An unknown subject: 404.
  const unknown = await rejection(newRegistry().getLatestSchemaId(subjectName()))
  assert.equal(unknown.status, 404)
})

test('kafkajs: register with the subject inferred from the Avro schema', async () => {
  // docs/usage.md: without options.subject the subject is namespace + "." + name.
  const name = uniqueName()
  const { id } = await newRegistry().register(avro(personV1(name)))
  assert.equal(await newRegistry().getLatestSchemaId(`examples.${name}`), id)
  const versions = await ovo.getSubjectVersions(GATEWAY, `examples.${name}`)
  assert.deepEqual(versions, [1])
})

test('kafkajs: encode and decode a record through the registry', async () => {
  const subject = subjectName()
  const name = uniqueName()
  const { id } = await newRegistry().register(avro(personV1(name)), { subject })
  const payload = { fullName: 'John Doe' }

  const encoded = await newRegistry().encode(id, payload)
  assert.equal(encoded[0], 0)
  assert.equal(encoded.readInt32BE(1), id)
  // A consumer elsewhere: a fresh client fetches the writer schema by id.
  assert.deepEqual({ ...(await newRegistry().decode(encoded)) }, payload)

  // Evolve; records of v1 still decode, records of v2 decode to v2.
  const v2 = await newRegistry().register(avro(personV2(name)), { subject })
  assert.notEqual(v2.id, id)
  const encoded2 = await newRegistry().encode(v2.id, { fullName: 'Jane Roe', age: 41 })
  assert.deepEqual({ ...(await newRegistry().decode(encoded2)) }, { fullName: 'Jane Roe', age: 41 })
  assert.deepEqual({ ...(await newRegistry().decode(encoded)) }, payload)
})

test('kafkajs: evolve compatibly, be refused incompatibly (409)', async () => {
  const registry = newRegistry()
  const subject = subjectName()
  const name = uniqueName()
  const v1 = await registry.register(avro(personV1(name)), { subject })

  // ovotech checkCompatibility: POST /compatibility/subjects/{s}/versions/{v}.
  assert.deepEqual(
    await ovo.checkCompatibility(GATEWAY, subject, 'latest', personV2(name)),
    { is_compatible: true },
  )
  assert.deepEqual(
    await ovo.checkCompatibility(GATEWAY, subject, 1, personIncompatible(name)),
    { is_compatible: false },
  )

  const v2 = await registry.register(avro(personV2(name)), { subject })
  assert.notEqual(v2.id, v1.id)
  assert.deepEqual(await ovo.getSubjectVersions(GATEWAY, subject), [1, 2])
  const latest = await ovo.getSubjectVersion(GATEWAY, subject, 2)
  assert.equal(latest.subject, subject)
  assert.equal(latest.version, 2)
  assert.equal(latest.id, v2.id)

  const refused = await rejection(registry.register(avro(personIncompatible(name)), { subject }))
  assert.equal(refused.status, 409, String(refused))
  // The same through ovotech, which keeps Confluent's error_code: 409.
  const refusedOvo = await rejection(ovo.addSubjectVersion(GATEWAY, subject, personIncompatible(name)))
  assert.ok(refusedOvo instanceof SchemaRegistryError, String(refusedOvo))
  assert.equal(refusedOvo.code, 409)
  assert.deepEqual(await ovo.getSubjectVersions(GATEWAY, subject), [1, 2])
})

test('kafkajs: the compatibility level set at registration, and its mismatch error', async () => {
  const subject = subjectName()
  const name = uniqueName()
  // docs/usage.md "Compatibility": register(schema, { compatibility: NONE })
  // sets the subject's level (PUT /config/{s}) on its first registration.
  await newRegistry().register(avro(personV1(name)), { subject, compatibility: COMPATIBILITY.NONE })
  const level = await fetchJson('GET', `/config/${subject}`)
  assert.deepEqual(level, { status: 200, body: { compatibilityLevel: 'NONE' } })

  // With NONE, an incompatible schema is accepted...
  await newRegistry().register(avro(personIncompatible(name)), {
    subject,
    compatibility: COMPATIBILITY.NONE,
  })
  assert.deepEqual(await ovo.getSubjectVersions(GATEWAY, subject), [1, 2])

  // ...and "If the subject already has an overridden compatibility setting
  // and it's different, the client will throw" (the default is BACKWARD).
  const mismatch = await rejection(newRegistry().register(avro(personV1(name)), { subject }))
  assert.equal(mismatch.name, 'ConfluentSchemaRegistryCompatibilityError', String(mismatch))

  // A subject registered with the default: its level is BACKWARD.
  const other = subjectName()
  await newRegistry().register(avro(personV1(uniqueName())), { subject: other })
  assert.deepEqual((await fetchJson('GET', `/config/${other}`)).body, { compatibilityLevel: 'BACKWARD' })
})

test('kafkajs: updateConfig: false leaves the subject without a level (404 / 40408)', async () => {
  // kafkajs treats a 404 on GET /config/{s} as "first registration"; Confluent
  // answers a subject without a subject-level config with 404 / 40408
  // (ConfigResource.getSubjectLevelConfig, no defaultToGlobal).
  const subject = subjectName()
  await newRegistry().register(avro(personV1(uniqueName())), { subject, updateConfig: false })
  const level = await fetchJson('GET', `/config/${subject}`)
  assert.deepEqual([level.status, level.body.error_code], [404, 40408])
  // defaultToGlobal=true falls back to the global level.
  const global = await fetchJson('GET', '/config')
  const fallback = await fetchJson('GET', `/config/${subject}?defaultToGlobal=true`)
  assert.deepEqual(fallback, { status: 200, body: global.body })
})

test('a subject nobody registered has no level either: GET /config/{s} is 404 / 40408', async () => {
  // RestApiTest.testGetConfigNonExistentSubject (confluentinc/schema-registry):
  // SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED_ERROR_CODE, not 40401.
  const before = await fetchJson('GET', `/config/${subjectName()}`)
  assert.deepEqual([before.status, before.body.error_code], [404, 40408])
})

test('kafkajs: JSON Schema as in its docs, registered, encoded and decoded', async () => {
  const subject = subjectName()
  // docs/usage.md "JSON Schema", verbatim.
  const schema = `
  {
    "definitions" : {
      "record:examples.Person" : {
        "type" : "object",
        "required" : [ "fullName" ],
        "additionalProperties" : false,
        "properties" : {
          "fullName" : {
            "type" : "string"
          }
        }
      }
    },
    "$ref" : "#/definitions/record:examples.Person"
  }
`
  const { id } = await newRegistry().register({ type: SchemaType.JSON, schema }, { subject })
  assert.equal((await newRegistry().register({ type: SchemaType.JSON, schema }, { subject })).id, id)
  const byId = await ovo.getSchema(GATEWAY, id)
  assert.equal(byId.schemaType, 'JSON')
  assert.deepEqual(JSON.parse(byId.schema), JSON.parse(schema))

  const payload = { fullName: 'John Doe' }
  const encoded = await newRegistry().encode(id, payload)
  assert.equal(encoded.readInt32BE(1), id)
  assert.deepEqual(await newRegistry().decode(encoded), payload)
})

test('kafkajs: Protobuf as in its docs, registered, encoded and decoded', async () => {
  const subject = subjectName()
  // docs/usage.md "Protobuf", verbatim (proto2: no syntax line, `required`).
  const schema = `
  package examples;
  message RandomTest {
    required string fullName = 1;
  }
`
  const { id } = await newRegistry().register({ type: SchemaType.PROTOBUF, schema }, { subject })
  assert.equal((await newRegistry().register({ type: SchemaType.PROTOBUF, schema }, { subject })).id, id)
  const byId = await ovo.getSchema(GATEWAY, id)
  assert.equal(byId.schemaType, 'PROTOBUF')

  const payload = { fullName: 'John Doe' }
  const encoded = await newRegistry().encode(id, payload)
  assert.equal(encoded.readInt32BE(1), id)
  const decoded = await newRegistry().decode(encoded)
  assert.equal(decoded.fullName, 'John Doe')
})

async function registerTwoVersions(subject, name) {
  // schemaToId: POST /subjects/{s} (404 / 40401 for a new subject, 40403 for
  // a new schema), then POST /subjects/{s}/versions. It relies on those codes.
  const id1 = await ovo.schemaToId(GATEWAY, subject, personV1(name))
  const id2 = await ovo.schemaToId(GATEWAY, subject, personV2(name))
  return [id1, id2]
}

test('ovotech: schemaToId, versions, the schema of a version, checkSubjectRegistered', async () => {
  const subject = subjectName()
  const name = uniqueName()
  const [id1, id2] = await registerTwoVersions(subject, name)
  assert.notEqual(id2, id1)
  assert.equal(await ovo.schemaToId(GATEWAY, subject, personV1(name)), id1)
  assert.deepEqual(await ovo.getSubjectVersions(GATEWAY, subject), [1, 2])
  const registered = await ovo.checkSubjectRegistered(GATEWAY, subject, personV1(name))
  assert.equal(registered.subject, subject)
  assert.equal(registered.id, id1)
  assert.equal(registered.version, 1)
  assert.ok((await ovo.getSubjects(GATEWAY)).includes(subject))
  // GET /subjects/{s}/versions/{v}/schema: the schema itself, unescaped.
  assert.deepEqual(await ovo.getSubjectVersionSchema(GATEWAY, subject, 2), personV2(name))
  assert.deepEqual(await ovo.idToSchema(GATEWAY, id1), personV1(name))
})

test('ovotech: delete a version, then the subject (soft)', async () => {
  const subject = subjectName()
  const name = uniqueName()
  const [id1, id2] = await registerTwoVersions(subject, name)

  // deleteSubjectVersion: DELETE /subjects/{s}/versions/1 answers 1.
  assert.equal(await ovo.deleteSubjectVersion(GATEWAY, subject, 1), 1)
  assert.deepEqual(await ovo.getSubjectVersions(GATEWAY, subject), [2])
  assert.equal((await rejection(ovo.getSubjectVersion(GATEWAY, subject, 1))).code, 40402)
  // The id still resolves, so old records still decode.
  assert.deepEqual(await ovo.idToSchema(GATEWAY, id1), personV1(name))

  // deleteSubject: DELETE /subjects/{s} answers the versions it deleted.
  assert.deepEqual(await ovo.deleteSubject(GATEWAY, subject), [2])
  assert.ok(!(await ovo.getSubjects(GATEWAY)).includes(subject))
  assert.equal((await rejection(ovo.getSubjectVersions(GATEWAY, subject))).code, 40401)
  // kafkajs: the subject is gone, the ids are not.
  assert.equal((await rejection(newRegistry().getLatestSchemaId(subject))).status, 404)
  assert.equal((await newRegistry().getSchema(id2)).name, `examples.${name}`)
})

test('ovotech: deleting a soft-deleted subject again is 404 / 40404', async () => {
  const subject = subjectName()
  await registerTwoVersions(subject, uniqueName())
  assert.deepEqual(await ovo.deleteSubject(GATEWAY, subject), [1, 2])
  assert.equal((await rejection(ovo.deleteSubject(GATEWAY, subject))).code, 40404)
})

test('permanent subject delete after the soft ones: every version, then the name is free', async () => {
  const subject = subjectName()
  const name = uniqueName()
  await registerTwoVersions(subject, name)
  assert.equal(await ovo.deleteSubjectVersion(GATEWAY, subject, 1), 1)
  assert.deepEqual(await ovo.deleteSubject(GATEWAY, subject), [2])
  // Permanent (neither library has it): every version, soft-deleted ones
  // included (KafkaSchemaRegistry.deleteSubject with INCLUDE_DELETED).
  assert.deepEqual(await fetchJson('DELETE', `/subjects/${subject}?permanent=true`), {
    status: 200,
    body: [1, 2],
  })
  assert.ok(!(await fetchJson('GET', '/subjects?deleted=true')).body.includes(subject))
  // Registering again starts over at version 1.
  await ovo.schemaToId(GATEWAY, subject, personV1(name))
  assert.deepEqual(await ovo.getSubjectVersions(GATEWAY, subject), [1])
})

test('a permanent version delete needs a soft one first (40407), then succeeds', async () => {
  const subject = subjectName()
  await registerTwoVersions(subject, uniqueName())
  const first = await fetchJson('DELETE', `/subjects/${subject}/versions/1?permanent=true`)
  assert.deepEqual([first.status, first.body.error_code], [404, 40407])
  assert.equal(await ovo.deleteSubjectVersion(GATEWAY, subject, 1), 1)
  assert.deepEqual(await fetchJson('DELETE', `/subjects/${subject}/versions/1?permanent=true`), {
    status: 200,
    body: 1,
  })
  assert.deepEqual(await ovo.getSubjectVersions(GATEWAY, subject), [2])
})

test('ovotech: a second soft delete of a version is 404 / 40406', async () => {
  const subject = subjectName()
  await registerTwoVersions(subject, uniqueName())
  assert.equal(await ovo.deleteSubjectVersion(GATEWAY, subject, 1), 1)
  assert.equal((await rejection(ovo.deleteSubjectVersion(GATEWAY, subject, 1))).code, 40406)
})

test('a permanent subject delete needs a soft one first: 404 / 40405', async () => {
  const subject = subjectName()
  await registerTwoVersions(subject, uniqueName())
  const whole = await fetchJson('DELETE', `/subjects/${subject}?permanent=true`)
  assert.deepEqual([whole.status, whole.body.error_code], [404, 40405])
})
