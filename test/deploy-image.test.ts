import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_COMPOSE_OPTIONS, RUNS_MOUNT, WORKER_PEER_PORT } from '../cli/compose-file';
import { DEFAULT_FASHION_MNIST_DIR } from '../shared/data/datasets';

const ROOT = path.join(__dirname, '..', '..');

interface Instruction {
  keyword: string;
  args: string;
  /** Name of the stage the instruction belongs to, or '' before the first FROM. */
  stage: string;
}

/** Splits a Dockerfile into instructions: joins continuation lines and drops comments and the parser directive. */
function readDockerfile(): Instruction[] {
  const logical: string[] = [];
  let pending = '';
  for (const line of readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').split('\n')) {
    if (/^\s*#/.test(line)) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const joined = `${pending}${line}`.trim();
    pending = '';
    if (joined) logical.push(joined);
  }
  assert.equal(pending, '', 'the Dockerfile ends inside a continued line');
  let stage = '';
  return logical.map((text) => {
    const [keyword, ...rest] = text.split(/\s+/);
    const args = rest.join(' ');
    if (keyword.toUpperCase() === 'FROM') stage = /\bAS\s+(\S+)$/i.exec(args)?.[1] ?? args;
    return { keyword: keyword.toUpperCase(), args, stage };
  });
}

function stageOf(instructions: Instruction[], stage: string): Instruction[] {
  return instructions.filter((instruction) => instruction.stage === stage);
}

/** Tests whether .dockerignore leaves `file` (relative to the root) out of the build context. The last matching pattern wins. */
function isIgnored(file: string, patterns: string[]): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const source = pattern
      .split(/(\*\*\/|\*\*|\*|\?)/)
      .map((part) => ({ '**/': '(?:.*/)?', '**': '.*', '*': '[^/]*', '?': '[^/]' })[part] ?? part.replace(/[.+^${}()|[\]\\]/g, '\\$&'))
      .join('');
    // A pattern that names a folder also covers everything inside it.
    if (new RegExp(`^${source}(?:/.*)?$`).test(file)) ignored = !negated;
  }
  return ignored;
}

function dockerignorePatterns(): string[] {
  return readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
}

/** Lists every source file that cli/wash.ts reaches through relative imports, relative to the root. */
function cliSourceFiles(): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    for (const match of text.matchAll(/(?:from\s+|require\(|import\()'(\.{1,2}\/[^']+)'/g)) {
      const base = path.join(path.dirname(file), match[1]);
      const target = [`${base}.ts`, path.join(base, 'index.ts')].find((candidate) => existsSync(path.join(ROOT, candidate)));
      if (target) visit(target);
    }
  };
  visit('cli/wash.ts');
  return [...seen].sort();
}

test('Dockerfile uses only known instructions', () => {
  const known = new Set(['FROM', 'ARG', 'RUN', 'COPY', 'ENV', 'WORKDIR', 'USER', 'VOLUME', 'EXPOSE', 'ENTRYPOINT', 'CMD', 'LABEL']);
  const instructions = readDockerfile();
  for (const { keyword, args } of instructions) assert.ok(known.has(keyword), `unexpected instruction ${keyword} ${args}`);
  const stages = instructions.filter((i) => i.keyword === 'FROM').map((i) => i.stage);
  assert.equal(new Set(stages).size, stages.length, 'stage names are unique');
  for (const { args, stage } of instructions.filter((i) => i.keyword === 'COPY')) {
    const from = /--from=(\S+)/.exec(args)?.[1];
    if (from) assert.ok(stages.indexOf(from) >= 0 && stages.indexOf(from) < stages.indexOf(stage), `stage ${stage} copies from ${from}, which is not an earlier stage`);
  }
  assert.equal(stages.at(-1), 'runtime', 'the image is the runtime stage');
});

test('GPU variant is default, on CUDA 11 and cuDNN 8', () => {
  const instructions = readDockerfile();
  const globalArgs = stageOf(instructions, '').filter((i) => i.keyword === 'ARG').map((i) => i.args);
  assert.ok(globalArgs.includes('VARIANT=gpu'));
  const cuda = globalArgs.find((arg) => arg.startsWith('CUDA_IMAGE='));
  assert.match(cuda ?? '', /^CUDA_IMAGE=nvidia\/cuda:11\.\d+\.\d+-cudnn8-runtime-/);
  assert.equal(stageOf(instructions, 'base-gpu')[0].args, '${CUDA_IMAGE} AS base-gpu');
  assert.equal(stageOf(instructions, 'base')[0].args, 'base-${VARIANT} AS base');
  assert.match(globalArgs.find((arg) => arg.startsWith('NODE_IMAGE=')) ?? '', /^NODE_IMAGE=node:20[-.]/);
});

test('native TF.js packages are allowed to run scripts', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    optionalDependencies: Record<string, string>;
    allowScripts: Record<string, boolean>;
  };
  const modules = stageOf(readDockerfile(), 'modules').map((i) => i.args).join('\n');
  const variants = [...modules.matchAll(/(gpu|cpu)\) keep=(\S+); drop=(\S+) ;;/g)].map((m) => ({ variant: m[1], keep: m[2], drop: m[3] }));
  assert.deepEqual(variants, [
    { variant: 'gpu', keep: '@tensorflow/tfjs-node-gpu', drop: '@tensorflow/tfjs-node' },
    { variant: 'cpu', keep: '@tensorflow/tfjs-node', drop: '@tensorflow/tfjs-node-gpu' },
  ]);
  for (const { keep } of variants) {
    assert.ok(keep in pkg.optionalDependencies, `${keep} is an optional dependency`);
    assert.equal(pkg.allowScripts[keep], true, `${keep} may run its install script`);
  }
  assert.match(modules, /npm ci --omit=dev --ignore-scripts/);
  assert.match(modules, /npm rebuild "\$\{keep\}"/);
});

test('runtime stage runs wash as non-root user', () => {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: { wash: string } };
  const runtime = stageOf(readDockerfile(), 'runtime');
  const last = (keyword: string): string | undefined => runtime.filter((i) => i.keyword === keyword).at(-1)?.args;
  assert.equal(last('ENTRYPOINT'), '["wash"]');
  const user = last('USER') ?? 'root';
  assert.ok(!['root', '0', '0:0'].includes(user), `runs as ${user}`);
  const workdir = runtime.filter((i) => i.keyword === 'WORKDIR')[0]?.args;
  const link = runtime.map((i) => i.args).find((args) => args.includes('/usr/local/bin/wash')) ?? '';
  assert.ok(link.includes(`ln -s ${path.posix.join(workdir, pkg.bin.wash)} /usr/local/bin/wash`), `wash links to the package's bin ${pkg.bin.wash}`);
  assert.ok(link.includes(`chown ${user}:`), 'the runs folder belongs to the user');
});

test('image data, volume and ports match code', () => {
  const runtime = stageOf(readDockerfile(), 'runtime');
  const copies = runtime.filter((i) => i.keyword === 'COPY').map((i) => i.args);
  assert.ok(copies.includes(`--from=fashion-mnist ${DEFAULT_FASHION_MNIST_DIR} ${DEFAULT_FASHION_MNIST_DIR}`), 'Fashion-MNIST lands in the default data folder');
  const fashion = stageOf(readDockerfile(), 'fashion-mnist').map((i) => i.args).join('\n');
  assert.match(fashion, /^debian:bookworm/);
  assert.match(fashion, /apt-get install -y --no-install-recommends dataset-fashion-mnist/);

  assert.deepEqual(runtime.filter((i) => i.keyword === 'VOLUME').map((i) => i.args), [`["${RUNS_MOUNT}"]`]);
  // The default --out is `runs`, relative to the working directory, so `WORKDIR /` puts it on the volume.
  assert.equal(path.posix.resolve(runtime.filter((i) => i.keyword === 'WORKDIR').at(-1)?.args ?? '', 'runs'), RUNS_MOUNT);
  const exposed = runtime.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map(Number);
  assert.deepEqual(exposed, [DEFAULT_COMPOSE_OPTIONS.port, WORKER_PEER_PORT]);
});

test('.dockerignore drops secrets, keeps sources', () => {
  const patterns = dockerignorePatterns();
  for (const file of ['.env', 'cli/.env', 'node_modules/ws/index.js', 'build/cli/wash.js', 'runs/r1/summary.json', '.git/HEAD', 'worker.log']) {
    assert.ok(isIgnored(file, patterns), `${file} stays out of the build context`);
  }
  const sources = cliSourceFiles();
  assert.ok(sources.length > 20, `found ${sources.length} files reachable from cli/wash.ts`);
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', ...sources]) {
    assert.ok(!isIgnored(file, patterns), `${file} is in the build context`);
  }
  const build = stageOf(readDockerfile(), 'build');
  assert.ok(build.some((i) => i.keyword === 'COPY' && i.args === '. .'), 'the build stage copies the whole context');
});

test('.env.example names every compose variable', () => {
  const compose = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
  const variables = new Set([...compose.matchAll(/\$\{(\w+)/g)].map((m) => m[1]));
  assert.deepEqual([...variables], ['WASH_TOKEN']);
  const example = readFileSync(path.join(ROOT, '.env.example'), 'utf8');
  for (const name of variables) {
    // Empty, so that compose refuses to start until the user sets a token of their own.
    assert.match(example, new RegExp(`^${name}=$`, 'm'), `.env.example sets ${name}=`);
  }
});
