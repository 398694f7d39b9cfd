// `sovereign policy lint|test|explain` on a policy.yaml whose quoted text is never closed: yaml-cpp
// would read the rest of the file into that text, so the rules written after it (a deny on credentials,
// a redaction of cards) would silently not exist. Every command refuses the file at the opening quote,
// with exit status 1; lint also reads on past it and names quoted texts that go on over several lines.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, tempDir } from './lib/gateway.mjs';

// The description on line 11 is written by each test (its value starts at column 18).
const policyWith = (description) => `name: quotes
version: 1
classes: [public, internal, confidential, restricted]
zones:
  - name: site
tenants:
  - name: demo
    clearance: confidential
rules:
  - name: demo-on-site
    description: ${description}
    when: {tenants: [demo]}
    then: {action: allow, zones: [site]}
  - name: no-credentials
    when: {detected: [aws_access_key]}
    then: {action: deny, message: credentials stay here}
  - name: redact-cards
    when: {detected: [credit_card]}
    then: {redact: [credit_card]}
`;

const TESTS = `policy: policy.yaml
cases:
  - name: an AWS key is refused
    request: {tenant: demo, text: "Why does AKIAIOSFODNN7EXAMPLE get access denied?"}
    expect: {action: deny, rule: no-credentials}
`;

describe('sovereign policy on a quoted text that is never closed', () => {
  let dir;
  let request;

  before(() => {
    dir = tempDir('sovereign-policy-cli-');
    request = path.join(dir, 'request.json');
    fs.writeFileSync(request, JSON.stringify({
      model: 'demo',
      messages: [{ role: 'user', content: 'Key AKIAIOSFODNN7EXAMPLE, card 4111 1111 1111 1111.' }],
    }));
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function writePolicy(name, text) {
    const sub = path.join(dir, name);
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, 'policy.yaml'), text);
    fs.writeFileSync(path.join(sub, 'policy.tests.yaml'), TESTS);
    return path.join(sub, 'policy.yaml');
  }

  for (const quote of ['"', "'"]) {
    it(`lint, test and explain refuse it at the opening ${quote} with exit status 1`, async () => {
      const file = writePolicy(quote === '"' ? 'double' : 'single', policyWith(`${quote}The demo tenant may use the GPUs on site.`));
      const expected = `${file}:11:18: YAML syntax error: the quoted text that starts here is never closed`;
      const commands = [
        ['policy', 'lint', file],
        ['policy', 'test', file],
        ['policy', 'explain', '--policy', file, '--request', request, '--tenant', 'demo'],
      ];
      for (const args of commands) {
        const result = await runCli(args);
        assert.equal(result.code, 1, `sovereign ${args.join(' ')}:\n${result.output}`);
        assert.equal(result.stdout.split('\n')[0], expected, `sovereign ${args.join(' ')}:\n${result.output}`);
        assert.doesNotMatch(result.output, /Decision: ALLOW|no problems found|passed/, `sovereign ${args.join(' ')}`);
      }
    });
  }

  it('closed, the same policy denies the key; lint names a quoted text over two lines', async () => {
    const closed = writePolicy('closed', policyWith('"The demo tenant may use the GPUs on site."'));
    const explained = await runCli(['policy', 'explain', '--policy', closed, '--request', request, '--tenant', 'demo']);
    assert.equal(explained.code, 0, explained.output);
    assert.match(explained.stdout, /Decision: DENY \(deciding rule: no-credentials,/, explained.output);
    const tested = await runCli(['policy', 'test', closed]);
    assert.equal(tested.code, 0, tested.output);

    const spanning = writePolicy('spanning', policyWith('"The demo tenant\n      may use the GPUs on site."'));
    const lint = await runCli(['policy', 'lint', spanning]);
    assert.equal(lint.code, 1, lint.output);
    assert.match(lint.stdout, new RegExp(`^${spanning.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:11:18: warning: the quoted text ` +
      'that starts here goes on to line 12', 'm'), lint.output);
    // It loads as YAML allows: the tests pass.
    const spanningTests = await runCli(['policy', 'test', spanning]);
    assert.equal(spanningTests.code, 0, spanningTests.output);
  });
});
