// The walkthrough's ports (README.md): two free loopback ports, one for the
// private nginx's site and one for the walkthrough daemon's HTTP endpoints,
// written into conf.d/site.conf and walkthrough.yaml, and into ports.env for
// the shell (`. ./ports.env` sets SITE_PORT and RK_HTTP_PORT). Fixed ports
// would collide with whatever already listens there (a reloadkit daemon's
// 127.0.0.1:9111, another nginx). Run it again to pick new ones.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Ports free at this moment, all different (each listener stays open until every port is chosen). */
async function freePorts(n) {
  const servers = [];
  for (let i = 0; i < n; i += 1) {
    const srv = createServer();
    await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
    servers.push(srv);
  }
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

const here = new URL('./', import.meta.url);
const [site, http] = await freePorts(2);
const rewrite = (file, pattern, replacement) => {
  const url = new URL(file, here);
  const text = readFileSync(url, 'utf8');
  if (!pattern.test(text)) throw new Error(`${file}: nothing to rewrite (${pattern})`);
  writeFileSync(url, text.replace(pattern, replacement));
};
rewrite('conf.d/site.conf', /listen 127\.0\.0\.1:\d+;/, `listen 127.0.0.1:${site};`);
rewrite('walkthrough.yaml', /http: 127\.0\.0\.1:\d+/, `http: 127.0.0.1:${http}`);
writeFileSync(new URL('ports.env', here), `SITE_PORT=${site}\nRK_HTTP_PORT=${http}\n`);
console.log(
  `nginx site:          http://127.0.0.1:${site}/\nreloadkit endpoints: http://127.0.0.1:${http}/  (status page, /ready, /metrics)\nwritten to ports.env: . ./ports.env`,
);
