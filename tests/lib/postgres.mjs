// A PostgreSQL server of the test's own: Debian's server binaries, a new
// cluster in a temp dir, on a free loopback port, password (SCRAM)
// authentication for one role, `berth`. Used by the tests that run
// controllers on a shared store, and by scripts/test.sh to run every test
// with `--store postgresql://` (BERTH_TEST_STORE).
//   startPostgres() -> {port, password, env, url(db), createDatabase(db), stop()}
//   node tests/lib/postgres.mjs start DIR   (prints the base URL; DIR/password)
//   node tests/lib/postgres.mjs stop DIR
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The newest installed server's bin dir, or null. */
export function postgresBin() {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return null;
  const versions = fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(root, versions[0], 'bin') : null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

// initdb and postgres refuse to run as root: as root they run as the
// `postgres` user Debian's package made.
const asRoot = process.getuid?.() === 0;
function run(bin, args, opts = {}) {
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  return execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

function handle(dir, port, password) {
  const env = { PGPASSWORD: password };
  const base = `postgresql://berth@127.0.0.1:${port}`;
  const psql = (sql, db = 'postgres') => execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1',
    '-d', `${base}/${db}`, '-c', sql], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  return {
    dir, port, password, env, base,
    url: (db) => `${base}/${db}`,
    psql,
    /** CREATE DATABASE db unless it exists. */
    createDatabase(db) {
      const have = execFileSync('psql', ['-X', '-At', '-d', `${base}/postgres`, '-c',
        `SELECT 1 FROM pg_database WHERE datname = '${db}'`], { env: { ...process.env, ...env } }).toString().trim();
      if (have !== '1') psql(`CREATE DATABASE "${db}"`);
      return `${base}/${db}`;
    },
    stop() { stopCluster(dir); },
  };
}

function stopCluster(dir) {
  const bin = postgresBin();
  spawnSync(asRoot ? 'runuser' : path.join(bin, 'pg_ctl'),
    asRoot ? ['-u', 'postgres', '--', path.join(bin, 'pg_ctl'), '-D', path.join(dir, 'data'), '-m', 'fast', '-w', 'stop']
      : ['-D', path.join(dir, 'data'), '-m', 'fast', '-w', 'stop'], { stdio: 'ignore' });
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A new cluster, started; throws when no server is installed. */
export async function startPostgres({ dir } = {}) {
  const bin = postgresBin();
  if (!bin) throw new Error('no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql)');
  dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'berth-pg-'));
  fs.mkdirSync(dir, { recursive: true });
  const password = randomBytes(18).toString('hex');
  const pwfile = path.join(dir, 'pwfile');
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  fs.chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  run(path.join(bin, 'initdb'), ['-D', data, '-U', 'berth', '--pwfile', pwfile, '-E', 'UTF8',
    '--auth-local', 'scram-sha-256', '--auth-host', 'scram-sha-256', '--no-instructions']);
  const port = await freePort();
  run(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'server.log'), '-w', '-t', '60',
    '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=400`, 'start']);
  fs.writeFileSync(path.join(dir, 'port'), `${port}\n`);
  return handle(dir, port, password);
}

/** The cluster `node postgres.mjs start DIR` left running. */
export function openPostgres(dir) {
  const port = Number(fs.readFileSync(path.join(dir, 'port'), 'utf8'));
  const password = fs.readFileSync(path.join(dir, 'pwfile'), 'utf8').trim();
  return handle(dir, port, password);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [cmd, dir] = process.argv.slice(2);
  if (cmd === 'start' && dir) {
    const pg = await startPostgres({ dir });
    process.stdout.write(`${pg.base}\n`);
  } else if (cmd === 'stop' && dir) {
    stopCluster(dir);
  } else {
    process.stderr.write('usage: node tests/lib/postgres.mjs start|stop DIR\n');
    process.exit(2);
  }
}
