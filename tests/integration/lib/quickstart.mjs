// The quickstart as a newcomer gets it, laid out in a temporary directory instead of the
// repository: TMP/examples/quickstart/{gateway,policy}.yaml, so that the config's ../../var paths
// land in TMP/var, with the demo model and the keys made by the same commands scripts/quickstart.sh
// runs. The repository's own var/ is never touched.
import fs from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import { repoRoot, runCli, tempDir } from './gateway.mjs';
import { freePort } from './ports.mjs';
import { initKeys } from './evidence.mjs';

export const QUICKSTART_KEY = 'sk-quickstart-demo';

// Returns { root, configPath, ports, keys, auditDir, modelFile }. The listener ports 8080/9090
// of the example are replaced by free ones; nothing else in the files changes.
export async function prepareQuickstart() {
  const root = tempDir('sovereign-quickstart-');
  const exampleDir = path.join(root, 'examples', 'quickstart');
  fs.mkdirSync(exampleDir, { recursive: true });
  const ports = { api: await freePort(), admin: await freePort() };
  const source = path.join(repoRoot, 'examples', 'quickstart');
  const gatewayYaml = fs.readFileSync(path.join(source, 'gateway.yaml'), 'utf8');
  assert.match(gatewayYaml, /^\s+port: 8080\b/m, 'the quickstart gateway.yaml no longer listens on 8080');
  assert.match(gatewayYaml, /^\s+port: 9090\b/m, 'the quickstart gateway.yaml no longer has its admin on 9090');
  const configPath = path.join(exampleDir, 'gateway.yaml');
  fs.writeFileSync(configPath, gatewayYaml
    .replace(/^(\s+port: )8080\b/m, `$1${ports.api}`)
    .replace(/^(\s+port: )9090\b/m, `$1${ports.admin}`));
  fs.copyFileSync(path.join(source, 'policy.yaml'), path.join(exampleDir, 'policy.yaml'));

  const modelFile = path.join(root, 'var', 'models', 'demo.gguf');
  fs.mkdirSync(path.dirname(modelFile), { recursive: true });
  const made = await runCli(['model', 'make-demo', modelFile], { timeoutMs: 60000 });
  assert.equal(made.code, 0, `model make-demo:\n${made.output}`);
  const keys = await initKeys(path.join(root, 'var', 'keys'));
  return { root, configPath, ports, keys, auditDir: path.join(root, 'var', 'audit'), modelFile };
}
