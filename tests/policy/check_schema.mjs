// Validates policy files against policy/schema/policy.schema.json.
// usage: node check_schema.mjs [--expect-invalid | --agree-with LOADER] YAML_TO_JSON SCHEMA NODE_MODULES_DIR FILE...
// Exit 0 when every file is valid (with --expect-invalid: when the schema refuses every file); otherwise
// prints each violation with the file and JSON path, exit 1. A schema that does not compile is exit 1
// either way, so a test expecting refusals cannot pass on a broken schema.
// With --agree-with, the loader (a program that exits 0 when the file loads) and the schema must both
// refuse each file whose name begins with "refused-" and both accept every other one: an editor then
// marks what the gateway refuses, and nothing it takes.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const usage = 'usage: node check_schema.mjs [--expect-invalid | --agree-with LOADER] YAML_TO_JSON SCHEMA NODE_MODULES_DIR FILE...';
let args = process.argv.slice(2);
const expectInvalid = args[0] === '--expect-invalid';
let loader = null;
if (expectInvalid) args = args.slice(1);
else if (args[0] === '--agree-with') {
  loader = args[1];
  args = args.slice(2);
}
const [converter, schemaPath, nodeModules, ...files] = args;
if (!converter || !schemaPath || !nodeModules || files.length === 0 || loader === undefined) {
  console.error(usage);
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(nodeModules), 'noop.js'));
const Ajv = require('ajv');
// strictRequired is off: "oneOf: [{required: [pattern]}, {required: [keywords]}]" names properties declared beside it.
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')));

let unexpected = 0;
if (loader) {
  for (const file of files) {
    const refused = path.basename(file).startsWith('refused-');
    const loaded = spawnSync(loader, [file], { encoding: 'utf8' });
    if (loaded.status !== 0 && loaded.status !== 1) {
      console.log(`FAIL ${file}: the loader exited ${loaded.status}: ${loaded.stderr}`);
      unexpected += 1;
      continue;
    }
    const loads = loaded.status === 0;
    const valid = validate(JSON.parse(execFileSync(converter, [file], { encoding: 'utf8' })));
    const verdict = (ok) => (ok ? 'accepts' : 'refuses');
    if (loads === !refused && valid === !refused) {
      console.log(`ok   ${file}: loader and schema both ${refused ? 'refuse' : 'accept'}`);
      continue;
    }
    unexpected += 1;
    console.log(`FAIL ${file}: expected both to ${refused ? 'refuse' : 'accept'}; the loader ${verdict(loads)}, the schema ${verdict(valid)}`);
    if (loaded.stdout) console.log(loaded.stdout.replace(/^/gm, '  loader: ').trimEnd());
    for (const e of validate.errors ?? []) console.log(`  schema: ${e.instancePath || '/'}: ${e.message}`);
  }
  process.exit(unexpected === 0 ? 0 : 1);
}
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
