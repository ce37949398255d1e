import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A structural Dockerfile lint for the rules that matter for this image (hadolint is not packaged for
 * Debian and no container runtime runs here): the rule ids are hadolint's where one exists.
 */
export interface Instruction {
  line: number;
  op: string;
  args: string;
}

export function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i] as string;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i]}`;
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (m) out.push({ line: start + 1, op: (m[1] as string).toUpperCase(), args: (m[2] as string).trim() });
  }
  return out;
}

export function lintDockerfile(text: string, context: string): string[] {
  const problems: string[] = [];
  const ins = parseDockerfile(text);
  const args = new Map<string, string>();
  const stages: string[] = [];
  let finalStart = 0;
  const at = (i: Instruction, rule: string, message: string) =>
    problems.push(`line ${i.line} ${rule}: ${message}`);
  ins.forEach((i, index) => {
    if (i.op === 'ARG') {
      const [name, value] = i.args.split('=');
      if (name && value !== undefined) args.set(name, value);
    }
    if (i.op === 'FROM') {
      const [image = '', , alias] = i.args.split(/\s+/);
      const resolved = image.replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? '');
      const base = resolved.split('/').pop() ?? '';
      if (!stages.includes(resolved) && (!base.includes(':') || base.endsWith(':latest'))) {
        at(i, 'DL3006/DL3007', `pin the image version: ${image} -> ${resolved}`);
      }
      if (alias) stages.push(alias);
      finalStart = index;
    }
    if (i.op === 'RUN') {
      if (/\bapt-get install\b/.test(i.args)) {
        if (!/--no-install-recommends/.test(i.args))
          at(i, 'DL3015', 'apt-get install without --no-install-recommends');
        if (!/\s-y\b|--yes/.test(i.args)) at(i, 'DL3014', 'apt-get install without -y');
        if (!/apt-get update/.test(i.args))
          at(i, 'DL3009', 'apt-get install without apt-get update in the same RUN');
        if (!/rm -rf \/var\/lib\/apt\/lists/.test(i.args)) at(i, 'DL3009', 'apt lists are not removed');
      }
      if (/(^|&&|;)\s*cd\s/.test(i.args)) at(i, 'DL3003', 'use WORKDIR, not cd');
      if (/\bsudo\b/.test(i.args)) at(i, 'DL3004', 'no sudo in a Dockerfile');
    }
    if (i.op === 'ADD' && /https?:\/\//.test(i.args))
      at(i, 'DL3020', 'ADD of a URL: download in RUN, verify it');
    if (i.op === 'WORKDIR' && !i.args.startsWith('/')) at(i, 'DL3000', 'WORKDIR must be absolute');
    if (i.op === 'COPY') {
      const from = /--from=(\S+)/.exec(i.args)?.[1];
      if (from && !stages.includes(from)) at(i, 'DL3022', `COPY --from=${from} names no earlier stage`);
      if (!from) {
        const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'));
        for (const src of parts.slice(0, -1)) {
          if (!existsSync(join(context, src))) at(i, 'COPY', `${src} is not in the build context`);
        }
      }
    }
    if ((i.op === 'CMD' || i.op === 'ENTRYPOINT') && !i.args.startsWith('[')) {
      at(i, 'DL3025', `${i.op} in shell form: signals would reach a shell, not the agent`);
    }
  });
  if (stages.length < 1) problems.push('multi-stage: the build and the runtime should be separate stages');
  const final = ins.slice(finalStart);
  const find = (op: string) => final.filter((i) => i.op === op);
  const user = find('USER').at(-1)?.args.split(':')[0];
  if (!user || user === 'root' || user === '0')
    problems.push('DL3002: the final stage must run as a non-root USER');
  const health = find('HEALTHCHECK').at(-1);
  if (!health?.args.includes('/healthz')) problems.push('HEALTHCHECK on /healthz is missing');
  if (!find('VOLUME').some((v) => v.args.includes('/data')))
    problems.push('the data directory is not a VOLUME');
  if (!find('EXPOSE').some((e) => /\b8080\b/.test(e.args))) problems.push('EXPOSE 8080 is missing');
  if (find('STOPSIGNAL').at(-1)?.args !== 'SIGTERM') problems.push('STOPSIGNAL SIGTERM is missing');
  return problems;
}
