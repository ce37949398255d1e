#!/usr/bin/env node
/**
 * `npm run bundle -- --target linux-x64|linux-arm64 [--out DIR]`: one archive for an air-gapped site with the
 * built agent, the production dependencies for that target only (other platforms' onnxruntime and sharp
 * binaries pruned, build leftovers dropped), the models, sample frames, the deploy files and the docs.
 * Unpacked anywhere, `node bin/edge-agent.js check` runs with no registry access; deploy/systemd/install.sh
 * installs it as a service (docs/install.md).
 *
 * The dependencies are copied from this checkout's node_modules (what `npm ci` installed and the tests ran
 * against), walking `npm ls --omit=dev`: nothing is fetched. Native addons must match the target, so a
 * linux-arm64 bundle is made on an arm64 machine (a Jetson, an arm64 runner): better-sqlite3 is compiled
 * at install time for the machine that installs it. The script refuses a bundle whose .node files are for
 * another CPU.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { closeSync, openSync, readSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = resolve(import.meta.dirname, '..');
const TARGETS = { 'linux-x64': { arch: 'x64', elf: 62 }, 'linux-arm64': { arch: 'arm64', elf: 183 } };
/** What the release holds besides node_modules (package.json "files", plus what installing needs). */
const RELEASE_FILES = ['bin', 'dist', 'models', 'samples', 'deploy', 'docs', 'agent.yaml', 'package.json', 'package-lock.json', 'README.md'];

function fail(message) {
  process.stderr.write(`bundle: ${message}\n`);
  process.exit(1);
}

const { values } = parseArgs({
  options: { target: { type: 'string' }, out: { type: 'string', default: join(ROOT, 'bundles') }, 'skip-build': { type: 'boolean', default: false } },
});
const target = TARGETS[values.target ?? ''];
if (!target) fail(`--target must be one of ${Object.keys(TARGETS).join(', ')}, got ${values.target ?? 'nothing'}`);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const name = `edge-agent-${pkg.version}-${values.target}`;

if (!values['skip-build']) execFileSync('npm', ['run', '-s', 'build'], { cwd: ROOT, stdio: 'inherit' });
if (!existsSync(join(ROOT, 'dist/main.js'))) fail('dist/ is missing: npm run build');

const staging = mkdtempSync(join(tmpdir(), 'eva-bundle-'));
const release = join(staging, name);
mkdirSync(release);
for (const file of RELEASE_FILES) {
  if (existsSync(join(ROOT, file))) cpSync(join(ROOT, file), join(release, file), { recursive: true, dereference: true });
}

// the production closure: package.json's dependencies and theirs, resolved as Node resolves them (nested
// copies included, optional ones when installed); nothing else that node_modules may hold
const resolvePackage = (name, fromDir) => {
  for (let dir = fromDir; dir.startsWith(ROOT); dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === ROOT) break;
  }
  return null;
};
const paths = new Set();
const visit = (deps, optional, fromDir, via) => {
  for (const dep of Object.keys(deps ?? {})) {
    const dir = resolvePackage(dep, fromDir);
    if (!dir) {
      if (optional.has(dep)) continue;
      fail(`${dep} (needed by ${via}) is not installed: npm ci first`);
    }
    if (paths.has(dir)) continue;
    paths.add(dir);
    const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const opt = new Set(Object.keys(meta.optionalDependencies ?? {}));
    visit({ ...meta.dependencies, ...meta.optionalDependencies }, opt, dir, dep);
  }
};
visit(pkg.dependencies, new Set(), ROOT, pkg.name);
for (const path of paths) {
  const rel = relative(ROOT, path);
  cpSync(realpathSync(path), join(release, rel), { recursive: true, dereference: true });
}

// other platforms' binaries and build leftovers
const removed = [];
const prune = (rel) => {
  const path = join(release, 'node_modules', rel);
  if (existsSync(path)) {
    rmSync(path, { recursive: true, force: true });
    removed.push(rel);
  }
};
const ortBin = 'onnxruntime-node/bin/napi-v6';
for (const os of ['darwin', 'win32']) prune(`${ortBin}/${os}`);
for (const arch of ['x64', 'arm64']) if (arch !== target.arch) prune(`${ortBin}/linux/${arch}`);
for (const dir of readdirSync(join(release, 'node_modules/@img'), { withFileTypes: true })) {
  const m = /^sharp-(?:libvips-)?(linux|linuxmusl|darwin|win32|wasm32)-?(.*)$/.exec(dir.name);
  if (m && !(m[1] === 'linux' && m[2] === target.arch)) prune(`@img/${dir.name}`);
}
for (const leftover of ['deps', 'src', 'build/Release/obj.target', 'build/Release/obj', 'build/Release/.deps', 'build/Release/test_extension.node', 'build/deps']) {
  prune(`better-sqlite3/${leftover}`);
}

// prebuildify's layout (prebuilds/<platform>-<arch>/), used by serialport under modbus-serial and others
const prunePrebuilds = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const path = join(dir, entry.name);
    if (entry.name === 'prebuilds') {
      for (const build of readdirSync(path)) {
        if (build !== `linux-${target.arch}`) prune(relative(join(release, 'node_modules'), join(path, build)));
      }
    } else prunePrebuilds(path);
  }
};
prunePrebuilds(join(release, 'node_modules'));

// every native addon must be for the target's CPU
const wrongCpu = [];
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else if (entry.name.endsWith('.node') || /\.so(\.\d+)*$/.test(entry.name)) {
      const header = Buffer.alloc(20);
      const fd = openSync(path, 'r');
      readSync(fd, header, 0, 20, 0);
      closeSync(fd);
      const isElf = header.readUInt32BE(0) === 0x7f454c46;
      if (isElf && header.readUInt16LE(18) !== target.elf) wrongCpu.push(relative(release, path));
    }
  }
};
walk(join(release, 'node_modules'));
if (wrongCpu.length > 0) {
  rmSync(staging, { recursive: true, force: true });
  fail(`these binaries are not for ${values.target} (make this bundle on a ${target.arch} machine after npm ci):\n  ${wrongCpu.join('\n  ')}`);
}

// npm must never reach for a registry from the unpacked release
writeFileSync(join(release, '.npmrc'), 'offline=true\naudit=false\nfund=false\nupdate-notifier=false\n');
writeFileSync(
  join(release, 'BUNDLE.json'),
  `${JSON.stringify({ name: pkg.name, version: pkg.version, target: values.target, node: pkg.engines?.node, builtAt: new Date().toISOString(), pruned: removed }, null, 2)}\n`,
);

mkdirSync(values.out, { recursive: true });
const archive = join(resolve(values.out), `${name}.tar.gz`);
execFileSync('tar', ['-czf', archive, '-C', staging, name]);
const size = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const unpacked = Number(execFileSync('du', ['-sb', release], { encoding: 'utf8' }).split('\t')[0]);
rmSync(staging, { recursive: true, force: true });
process.stdout.write(`${archive}\n  archive ${size(statSync(archive).size)}, unpacked ${size(unpacked)}, ${paths.size} packages, pruned: ${removed.join(', ')}\n`);
