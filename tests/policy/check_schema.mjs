// Validates policy files against policy/schema/policy.schema.json.
// usage: node check_schema.mjs [--expect-invalid | --agree-with LOADER | --agree-on-emptied-lists LOADER]
//        YAML_TO_JSON SCHEMA NODE_MODULES_DIR FILE...
// Exit 0 when every file is valid (with --expect-invalid: when the schema refuses every file); otherwise
// prints each violation with the file and JSON path, exit 1. A schema that does not compile is exit 1
// either way, so a test expecting refusals cannot pass on a broken schema.
// With --agree-with, the loader (a program that exits 0 when the file loads) and the schema must both
// refuse each file whose name begins with "refused-" and both accept every other one: an editor then
// marks what the gateway refuses, and nothing it takes.
// Without an option, each policy FILE's test file beside it (NAME.tests.yaml), where there is one, is
// validated too, against policy.tests.schema.json beside SCHEMA: editors then mark in test files
// what `sovereign policy test` refuses.
// With --agree-on-emptied-lists, each FILE is a policy both accept; every list of names or words in it
// is emptied in turn (one variant per list, written as JSON, which YAML reads), and the loader and the
// schema must both refuse or both accept each variant.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const usage = 'usage: node check_schema.mjs [--expect-invalid | --agree-with LOADER | --agree-on-emptied-lists LOADER] ' +
  'YAML_TO_JSON SCHEMA NODE_MODULES_DIR FILE...';
let args = process.argv.slice(2);
const expectInvalid = args[0] === '--expect-invalid';
const emptyLists = args[0] === '--agree-on-emptied-lists';
let loader = null;
if (expectInvalid) args = args.slice(1);
else if (args[0] === '--agree-with' || emptyLists) {
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
const loads = (file) => {
  const loaded = spawnSync(loader, [file], { encoding: 'utf8' });
  if (loaded.status !== 0 && loaded.status !== 1) throw new Error(`the loader exited ${loaded.status} on ${file}: ${loaded.stderr}`);
  return { ok: loaded.status === 0, output: loaded.stdout };
};
const verdict = (ok) => (ok ? 'accepts' : 'refuses');

// The JSON paths of the lists of names or words in a document: arrays of scalars only (emptying a list
// of zones, tenants or rules would break what refers to them, which is not what this checks).
function scalarLists(value, at = []) {
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((item) => item === null || typeof item !== 'object')) return [at];
    return value.flatMap((item, i) => scalarLists(item, [...at, i]));
  }
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => scalarLists(v, [...at, k]));
  return [];
}

if (emptyLists) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'check-schema-'));
  try {
    for (const file of files) {
      const document = JSON.parse(execFileSync(converter, [file], { encoding: 'utf8' }));
      if (!loads(file).ok || !validate(document)) {
        console.log(`FAIL ${file}: the loader ${verdict(loads(file).ok)} it and the schema ${verdict(validate(document))} it; both must accept it`);
        unexpected += 1;
        continue;
      }
      for (const at of scalarLists(document)) {
        const variant = structuredClone(document);
        at.slice(0, -1).reduce((node, key) => node[key], variant)[at[at.length - 1]] = [];
        const name = `/${at.join('/')}`;
        const variantFile = path.join(dir, 'variant.yaml');
        writeFileSync(variantFile, JSON.stringify(variant, null, 1));
        const loaded = loads(variantFile);
        const valid = validate(variant);
        if (loaded.ok === valid) {
          console.log(`ok   ${file} ${name}: [] — loader and schema both ${valid ? 'accept' : 'refuse'}`);
          continue;
        }
        unexpected += 1;
        console.log(`FAIL ${file} ${name}: [] — the loader ${verdict(loaded.ok)}, the schema ${verdict(valid)}`);
        if (loaded.output) console.log(loaded.output.trimEnd().replace(/^/gm, '  loader: '));
        for (const e of validate.errors ?? []) console.log(`  schema: ${e.instancePath || '/'}: ${e.message}`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(unexpected === 0 ? 0 : 1);
}
if (loader) {
  for (const file of files) {
    const refused = path.basename(file).startsWith('refused-');
    const loaded = loads(file);
    const valid = validate(JSON.parse(execFileSync(converter, [file], { encoding: 'utf8' })));
    if (loaded.ok === !refused && valid === !refused) {
      console.log(`ok   ${file}: loader and schema both ${refused ? 'refuse' : 'accept'}`);
      continue;
    }
    unexpected += 1;
    console.log(`FAIL ${file}: expected both to ${refused ? 'refuse' : 'accept'}; the loader ${verdict(loaded.ok)}, the schema ${verdict(valid)}`);
    if (loaded.output) console.log(loaded.output.trimEnd().replace(/^/gm, '  loader: '));
    for (const e of validate.errors ?? []) console.log(`  schema: ${e.instancePath || '/'}: ${e.message}`);
  }
  process.exit(unexpected === 0 ? 0 : 1);
}
// The test file beside a policy, and the validator of test files (compiled when one is found).
const testsFileOf = (file) => file.replace(/\.yaml$/, '.tests.yaml');
let validateTests = null;
function checkTestsFile(file) {
  validateTests ??= ajv.compile(JSON.parse(readFileSync(path.join(path.dirname(schemaPath), 'policy.tests.schema.json'), 'utf8')));
  const document = JSON.parse(execFileSync(converter, [file], { encoding: 'utf8' }));
  if (validateTests(document)) return console.log(`ok   ${file} (test file)`);
  unexpected += 1;
  console.log(`FAIL ${file} (test file)`);
  for (const e of validateTests.errors) console.log(`  ${e.instancePath || '/'}: ${e.message}`);
}
for (const file of files) {
  const document = JSON.parse(execFileSync(converter, [file], { encoding: 'utf8' }));
  if (!expectInvalid && !file.endsWith('.tests.yaml') && existsSync(testsFileOf(file))) checkTestsFile(testsFileOf(file));
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
