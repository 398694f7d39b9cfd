// A throwaway PKI made with the openssl CLI at test time: a CA, a server certificate for the
// gateway, client certificates for mTLS, a backend certificate, and a client certificate from a
// CA the gateway does not trust.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir, name, cn) {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
}

function makeLeaf(dir, ca, name, cn, extensions) {
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(ext, extensions.join('\n') + '\n');
  openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-out', `${name}.crt`, '-days', '2', '-extfile', ext], dir);
}

// Writes the PKI into `dir`; returns absolute paths { ca, server: {cert,key}, client: {...}, ... }.
export function makePki(dir, { clientCn = 'radiology-app', unknownClientCn = 'stranger-app', backendName = 'vllm.hall-a.internal' } = {}) {
  makeCa(dir, 'ca', 'Sovereign Test CA');
  makeCa(dir, 'rogue-ca', 'Rogue CA');
  const server = ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature', 'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost'];
  const client = ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature', 'extendedKeyUsage=clientAuth'];
  makeLeaf(dir, 'ca', 'server', 'localhost', server);
  makeLeaf(dir, 'ca', 'client', clientCn, client);
  makeLeaf(dir, 'ca', 'unknown-client', unknownClientCn, client);
  makeLeaf(dir, 'rogue-ca', 'rogue-client', clientCn, client);
  makeLeaf(dir, 'ca', 'backend', backendName, ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature',
    'extendedKeyUsage=serverAuth', `subjectAltName=DNS:${backendName}`]);
  makeLeaf(dir, 'ca', 'gateway-client', 'sovereign-gateway', client);
  const pair = (name) => ({ cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) });
  return {
    dir,
    ca: path.join(dir, 'ca.crt'),
    server: pair('server'),
    client: pair('client'),
    unknownClient: pair('unknown-client'),
    rogueClient: pair('rogue-client'),
    backend: pair('backend'),
    gatewayClient: pair('gateway-client'),
    clientCn,
    backendName,
  };
}

// A server certificate signed by the PKI's CA for `subjectAltName` (e.g. 'IP:127.0.0.2'); returns
// its { cert, key }.
export function makeServerCertificate(pki, name, subjectAltName) {
  makeLeaf(pki.dir, 'ca', name, name, ['basicConstraints=CA:FALSE', 'keyUsage=digitalSignature',
    'extendedKeyUsage=serverAuth', `subjectAltName=${subjectAltName}`]);
  return { cert: path.join(pki.dir, `${name}.crt`), key: path.join(pki.dir, `${name}.key`) };
}
