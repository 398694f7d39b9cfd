// JSON Schemas of the OpenAI shapes the gateway answers with, and assertions that name the
// offending field when an answer does not match.
import assert from 'node:assert/strict';
import Ajv from 'ajv';

const ajv = new Ajv({ allErrors: true, strict: true });

const nullableString = { anyOf: [{ type: 'string' }, { type: 'null' }] };

const schemas = {
  error: {
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['message', 'type', 'param', 'code'],
        properties: {
          message: { type: 'string', minLength: 1 },
          type: { type: 'string', minLength: 1 },
          param: nullableString,
          code: nullableString,
        },
      },
    },
  },
  modelList: {
    type: 'object',
    required: ['object', 'data'],
    properties: {
      object: { const: 'list' },
      data: {
        type: 'array',
        items: {
          type: 'object',
          required: ['id', 'object', 'created', 'owned_by'],
          properties: {
            id: { type: 'string' },
            object: { const: 'model' },
            created: { type: 'integer' },
            owned_by: { type: 'string' },
          },
        },
      },
    },
  },
};

const validators = Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, ajv.compile(schema)]));

export function assertShape(name, value, context = '') {
  const validate = validators[name];
  if (!validate(value)) {
    assert.fail(`${context}: not an OpenAI ${name}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value)}`);
  }
}

// Asserts an OpenAI error answer with this status, type and code.
export function assertError(res, { status, type, code }, context = '') {
  const where = `${context} (got ${res.status} ${res.text})`;
  assert.equal(res.status, status, `status ${where}`);
  assert.match(String(res.headers['content-type'] ?? ''), /^application\/json/, `content-type ${where}`);
  assertShape('error', res.json, where);
  if (type !== undefined) assert.equal(res.json.error.type, type, `error.type ${where}`);
  if (code !== undefined) assert.equal(res.json.error.code, code, `error.code ${where}`);
}
