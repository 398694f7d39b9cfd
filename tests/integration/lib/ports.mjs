// Free loopback ports for generated configs (the kernel picks; the port is released at once, so a
// test binds it right after). The kernel may pick a port it just handed out again once it is
// released, so a port this process has handed out before is never given twice (a gateway whose API
// and admin listeners got the same port could not start).
import net from 'node:net';

const handedOut = new Set();

function kernelPort(host) {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function freePort(host = '127.0.0.1') {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await kernelPort(host);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no loopback port that was not handed out before, after 100 tries');
}
