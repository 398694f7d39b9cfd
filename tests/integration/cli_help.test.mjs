// Every command and subcommand of `sovereign` answers --help and -h with its usage on stdout and
// exit status 0, as the top-level help promises ("Run 'sovereign COMMAND --help'"); asking for help
// never does the command's work (no file opened, no key written).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runCli, tempDir } from './lib/gateway.mjs';

// The commands the top-level help lists ("  policy lint|test|explain  ..."), each with its
// subcommands: the second word where it is a list of subcommand names, not an option or FILE.
function documentedCommands(help) {
  const listed = help.slice(help.indexOf('Commands:')).split('\n').filter((l) => /^ {2}[a-z]/.test(l));
  return listed.map((line) => {
    const [command, second = ''] = line.trim().split(/\s+/);
    return { command, subcommands: /^[a-z][a-z|-]*$/.test(second) ? second.split('|') : [] };
  });
}

async function assertHelp(args) {
  const result = await runCli(args);
  assert.equal(result.code, 0, `sovereign ${args.join(' ')}: exit ${result.code}\n${result.output}`);
  assert.match(result.stdout, /^usage:\s+sovereign/, `sovereign ${args.join(' ')}`);
  assert.equal(result.stderr, '', `sovereign ${args.join(' ')}`);
}

describe('sovereign COMMAND --help', () => {
  let dir;
  let commands;

  before(async () => {
    dir = tempDir('sovereign-cli-help-');
    const top = await runCli(['--help']);
    assert.equal(top.code, 0, top.output);
    commands = documentedCommands(top.stdout);
  });

  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the top-level help lists every command and the subcommands of each', () => {
    const names = commands.map((c) => c.command);
    assert.deepEqual(names, ['serve', 'config', 'policy', 'audit', 'keys', 'vault', 'model', 'accel', 'version']);
    const audit = commands.find((c) => c.command === 'audit').subcommands;
    assert.deepEqual(audit, ['verify', 'query', 'tail', 'prove', 'prove-consistency', 'checkpoint', 'check-proof', 'open']);
    assert.deepEqual(commands.find((c) => c.command === 'keys').subcommands, ['init', 'rotate', 'list', 'export-public']);
  });

  it('every command and subcommand answers --help and -h with its usage and exit status 0', async () => {
    for (const flag of ['--help', '-h']) {
      await assertHelp([flag]);
      for (const { command, subcommands } of commands) {
        await assertHelp([command, flag]);
        for (const subcommand of subcommands) await assertHelp([command, subcommand, flag]);
      }
    }
  });

  it('help wins over the rest of the command line and does none of the work', async () => {
    const keys = path.join(dir, 'keys');
    await assertHelp(['keys', 'init', '--dir', keys, '--help']);
    assert.equal(fs.existsSync(keys), false, 'keys init --help wrote no key');
    // policy test --help once tried to open "--help.tests.yaml".
    await assertHelp(['policy', 'test', '--help']);
    await assertHelp(['policy', 'lint', path.join(dir, 'missing.yaml'), '-h']);
    await assertHelp(['audit', 'verify', path.join(dir, 'no-log'), '--key', 'none.pub', '--help']);
    await assertHelp(['serve', '--config', path.join(dir, 'missing.yaml'), '--help']);
    await assertHelp(['config', 'check', '--bogus', '-h']);
  });

  it('--version and -V print the version as `sovereign version` does', async () => {
    const version = await runCli(['version']);
    assert.equal(version.code, 0, version.output);
    assert.match(version.stdout, /^sovereign \d+\.\d+\.\d+\n$/);
    for (const flag of ['--version', '-V']) {
      const result = await runCli([flag]);
      assert.equal(result.code, 0, `sovereign ${flag}: ${result.output}`);
      assert.equal(result.stdout, version.stdout, `sovereign ${flag}`);
      assert.equal(result.stderr, '', `sovereign ${flag}`);
    }
  });

  it('a mistake still prints the usage, on stderr, with exit status 2', async () => {
    for (const args of [['policy', 'lint', '--bogus'], ['audit'], ['keys', 'frobnicate'], ['vault', 'check'], ['version', 'x']]) {
      const result = await runCli(args);
      assert.equal(result.code, 2, `sovereign ${args.join(' ')}: ${result.output}`);
      assert.equal(result.stdout, '', `sovereign ${args.join(' ')}`);
      assert.match(result.stderr, /^sovereign [a-z ]*: .*\n\nusage:\s+sovereign/, `sovereign ${args.join(' ')}`);
    }
  });
});
