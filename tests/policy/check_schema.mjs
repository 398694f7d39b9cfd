// Validates policy files against policy/schema/policy.schema.json.
// usage: node check_schema.mjs [--expect-invalid] YAML_TO_JSON SCHEMA NODE_MODULES_DIR FILE...
// Exit 0 when every file is valid (with --expect-invalid: when the schema refuses every file); otherwise
// prints each violation with the file and JSON path, exit 1. A schema that does not compile is exit 1
// either way, so a test expecting refusals cannot pass on a broken schema.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const args = process.argv.slice(2);
const expectInvalid = args[0] === '--expect-invalid';
const [converter, schemaPath, nodeModules, ...files] = expectInvalid ? args.slice(1) : args;
if (!converter || !schemaPath || !nodeModules || files.length === 0) {
  console.error('usage: node check_schema.mjs [--expect-invalid] YAML_TO_JSON SCHEMA NODE_MODULES_DIR FILE...');
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(nodeModules), 'noop.js'));
const Ajv = require('ajv');
// strictRequired is off: "oneOf: [{required: [pattern]}, {required: [keywords]}]" names properties declared beside it.
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));

let unexpected = 0;
for (const file of files) {
  const document = JSON.parse(execFileSync(converter, [file], { encoding: 'utf8' }));
  if (validate(document)) {
    console.log(`${expectInvalid ? 'FAIL (accepted)' : 'ok  '} ${file}`);
    if (expectInvalid) unexpected += 1;
    continue;
  }
  if (!expectInvalid) unexpected += 1;
  console.log(`${expectInvalid ? 'ok (refused)' : 'FAIL'} ${file}`);
  for (const e of validate.errors) console.log(`  ${e.instancePath || '/'}: ${e.message}`);
}
process.exit(unexpected === 0 ? 0 : 1);
