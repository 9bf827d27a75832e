// Pure parsing for the nginx target: the `nginx -T` dump's main-context
// pid/error_log, `nginx -V` build defaults, and how paths resolve.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mainDirectives, parseBuildInfo, resolvePaths, tokenize } from '../../src/daemon/targets/nginx.js';

const DUMP = `nginx: the configuration file /etc/nginx/nginx.conf syntax is ok
# configuration file /etc/nginx/nginx.conf:
user www-data;
worker_processes auto;
pid /run/nginx.pid; # trailing comment
error_log /var/log/nginx/error.log warn;
error_log stderr;
include /etc/nginx/modules-enabled/*.conf;
events { worker_connections 768; }
http {
    error_log /var/log/nginx/http.log;
    include conf.d/*.conf;
    server { pid_like "pid /nope;"; }
}

# configuration file /etc/nginx/modules-enabled/50-mod.conf:
load_module modules/x.so;
error_log /var/log/nginx/modules.log;

# configuration file /etc/nginx/conf.d/site.conf:
error_log /var/log/nginx/site.log;
server { listen 80; }
`;

describe('nginx config parsing', () => {
  it('tokenizes words, quoted strings, braces and semicolons, dropping comments', () => {
    assert.deepEqual(tokenize('a "b c" {d;} # e\nf\'g;h\';'), ['a', 'b c', '{', 'd', ';', '}', 'f', 'g;h', ';']);
  });

  it('reads pid and error_log in the main context only: the main file and files it includes at its top level', () => {
    // conf.d/site.conf is included inside http: its error_log is not the main one.
    assert.deepEqual(mainDirectives(DUMP), {
      pid: '/run/nginx.pid',
      errorLogs: ['/var/log/nginx/error.log', 'stderr', '/var/log/nginx/modules.log'],
    });
  });

  it('finds a pid kept in a file included by a relative path (under the main config directory), and survives include loops', () => {
    const dump = [
      '# configuration file /srv/ngx/nginx.conf:',
      'include main-extra.conf;',
      'include parts/[ab]?.conf;',
      'events {}',
      '',
      '# configuration file /srv/ngx/main-extra.conf:',
      'pid custom.pid;',
      'include /srv/ngx/nginx.conf;',
      '',
      '# configuration file /srv/ngx/parts/a1.conf:',
      'error_log logs/a1.log;',
      '',
      '# configuration file /srv/ngx/parts/c1.conf:',
      'error_log logs/never.log;',
      '',
    ].join('\n');
    assert.deepEqual(mainDirectives(dump), { pid: 'custom.pid', errorLogs: ['logs/a1.log'] });
  });

  it('parses build defaults from nginx -V', () => {
    const v =
      'nginx version: nginx/1.22.1\nconfigure arguments: --prefix=/usr/share/nginx --conf-path=/etc/nginx/nginx.conf --error-log-path=/var/log/nginx/error.log --pid-path=/run/nginx.pid';
    assert.deepEqual(parseBuildInfo(v), {
      prefix: '/usr/share/nginx/',
      pidPath: '/run/nginx.pid',
      errorLogPath: '/var/log/nginx/error.log',
      confPath: '/etc/nginx/nginx.conf',
    });
    assert.deepEqual(parseBuildInfo('configure arguments:'), {
      prefix: '/usr/local/nginx/',
      pidPath: 'logs/nginx.pid',
      errorLogPath: 'logs/error.log',
      confPath: 'conf/nginx.conf',
    });
  });

  it('resolves relative paths under -p, else under the compiled prefix, and drops stderr/syslog logs', () => {
    const build = { prefix: '/usr/local/nginx/', pidPath: 'logs/nginx.pid', errorLogPath: 'logs/error.log', confPath: 'conf/nginx.conf' };
    assert.deepEqual(resolvePaths('# configuration file /x/nginx.conf:\nevents {}\n', build, undefined), {
      pidfile: '/usr/local/nginx/logs/nginx.pid',
      errorLogs: ['/usr/local/nginx/logs/error.log'],
    });
    assert.deepEqual(resolvePaths('pid run/n.pid;\nerror_log syslog:server=x;\nerror_log logs/e.log;', build, '/srv/ngx/'), {
      pidfile: '/srv/ngx/run/n.pid',
      errorLogs: ['/srv/ngx/logs/e.log'],
    });
  });
});
