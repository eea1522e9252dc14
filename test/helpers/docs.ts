import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { tempDir } from './files.js';
import { REPO_ROOT } from './services.js';

// The shell examples of docs/*.md, run as issue #6 asks: `sh` blocks run in order in one bash per
// file; `bash`, `shell`, `console` blocks and untagged blocks of commands are refused (they would not run).

export interface Block {
  lang: string;
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
}

/** Every fenced block of a Markdown text (fences in lists included, their indentation removed). */
export function fencedBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang] = open as unknown as [string, string, string, string];
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !new RegExp(`^\\s*${fence[0]}{${fence.length},}\\s*$`).test(lines[j]!)) {
      body.push(lines[j]!.startsWith(indent) ? lines[j]!.slice(indent.length) : lines[j]!.trimStart());
      j++;
    }
    blocks.push({ lang: lang.toLowerCase(), code: body.join('\n'), line: i + 1 });
    i = j;
  }
  return blocks;
}

const REFUSED_TAGS = ['bash', 'shell', 'console'];
const COMMAND =
  /^(\$ |(backupctl|docker|sudo|systemctl|journalctl|temporal|psql|pg_dump|pg_restore|gpg|npm|npx|export|curl|aws)(\s|$))/;

/** Blocks that would slip through unrun: shell under another tag, or commands without a tag. */
export function refusedBlocks(blocks: Block[]): { block: Block; why: string }[] {
  return blocks.flatMap((block) => {
    if (REFUSED_TAGS.includes(block.lang))
      return [{ block, why: `tagged ${block.lang}: tag it sh (run) or text` }];
    if (block.lang === '' && block.code.split('\n').some((l) => COMMAND.test(l.trim()))) {
      return [{ block, why: 'untagged, and looks like commands: tag it sh (run) or text' }];
    }
    return [];
  });
}

const STAND_INS: Record<string, string> = {
  docker: `#!/usr/bin/env bash
# Stand-in for docker (no engine here). exec runs the command locally; compose config parses the files.
set -euo pipefail
if [[ "\${1:-}" == exec ]]; then
  shift
  while [[ "\${1:-}" == -* ]]; do
    case "$1" in
      -i | -t | -it | -ti) shift ;;
      -e | --env) [[ "$2" == *=* ]] && export "$2"; shift 2 ;;
      *) echo "docker stand-in: exec option $1 is not supported" >&2; exit 2 ;;
    esac
  done
  shift # the container
  exec "$@"
fi
if [[ "\${1:-}" == compose ]]; then
  shift
  files=()
  while [[ "\${1:-}" == -* ]]; do
    case "$1" in
      -f | --file) files+=("$2"); shift 2 ;;
      -p | --project-name | --env-file) shift 2 ;;
      *) echo "docker stand-in: compose option $1 is not supported" >&2; exit 2 ;;
    esac
  done
  if [[ "\${1:-}" == config ]]; then
    if [[ \${#files[@]} -eq 0 ]]; then
      for f in compose.yaml compose.yml docker-compose.yaml docker-compose.yml; do
        [[ -f "$f" ]] && files+=("$f") && break
      done
    fi
    [[ \${#files[@]} -gt 0 ]] || { echo 'no configuration file provided: not found' >&2; exit 1; }
    node -e 'const { parse } = require(process.argv[1]); const fs = require("fs");
      for (const f of process.argv.slice(2)) parse(fs.readFileSync(f, "utf8"));' "$REPO/node_modules/yaml" "\${files[@]}"
    [[ " $* " == *" -q "* || " $* " == *" --quiet "* ]] || cat "\${files[@]}"
    exit 0
  fi
  set -- compose "$@"
fi
echo "docker $* (stand-in: no engine here)"
`,
  systemctl: `#!/bin/sh\necho "systemctl $* (stand-in: no systemd here)"\n`,
  journalctl: `#!/bin/sh\necho "journalctl $* (stand-in: no systemd here)"\n`,
  sudo: `#!/bin/sh\ncase "$1" in -*) echo "sudo stand-in: options are not supported" >&2; exit 2 ;; esac\nexec "$@"\n`,
};

/** A folder for PATH's front: backupctl (the built CLI), Temporal's CLI, and the stand-ins. */
export function shimDir(): string {
  const dir = tempDir('docs-bin');
  const scripts = {
    ...STAND_INS,
    backupctl: `#!/bin/sh\nexec '${process.execPath}' "$REPO/dist/src/cli/main.js" "$@"\n`,
  };
  for (const [name, text] of Object.entries(scripts)) {
    writeFileSync(join(dir, name), text);
    chmodSync(join(dir, name), 0o755);
  }
  const temporal = join(REPO_ROOT, '.tools/bin/temporal');
  if (existsSync(temporal)) symlinkSync(temporal, join(dir, 'temporal'));
  return dir;
}

/**
 * Host folders an install writes to (/etc/passwd by useradd, /etc/durable-backup, units, state,
 * the commands scripts/setup.sh puts in /usr/local/bin):
 * in the blocks' private mount namespace each is an overlay whose writes land in a tmpfs there.
 */
export const PRIVATE_DIRS = ['/etc', '/var/lib', '/usr/local/bin'];

export interface DocRun {
  ok: boolean;
  /** What went wrong, with the failing block and its output; empty when ok. */
  report: string;
}

/**
 * Runs the sh blocks of one file in order in one `bash` (set -euo pipefail), in a private mount
 * namespace, from a fresh scratch folder, with env. Background jobs are stopped at the end;
 * everything the blocks started is killed at the time limit.
 */
export async function runShBlocks(
  file: string,
  blocks: Block[],
  env: Record<string, string>,
  limitMs: number,
): Promise<DocRun> {
  const work = tempDir('docs-run');
  const scratch = join(work, 'scratch');
  mkdirSync(scratch);
  mkdirSync(join(work, 'home'), { mode: 0o700 });
  const driver = ['set -euo pipefail', 'exec 2>&1', "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"];
  const layers = join(work, 'layers');
  mkdirSync(layers);
  driver.push(`mount -t tmpfs -o mode=0700 docs-layers '${layers}'`);
  PRIVATE_DIRS.forEach((dir, i) => {
    const [upper, workdir] = [join(layers, `${i}-upper`), join(layers, `${i}-work`)];
    driver.push(
      `mkdir '${upper}' '${workdir}'`,
      `mount -t overlay docs-overlay -o 'lowerdir=${dir},upperdir=${upper},workdir=${workdir}' ${dir}`,
    );
  });
  driver.push(`cd '${scratch}'`);
  blocks.forEach((block, i) => {
    const path = join(work, `${basename(file)}-line${block.line}.sh`);
    writeFileSync(path, `${block.code}\n`);
    driver.push(`printf '\\n@@docs-block ${i}@@\\n'`, `source '${path}'`);
  });
  writeFileSync(join(work, 'driver.sh'), `${driver.join('\n')}\n`);

  const child = execa('unshare', ['--mount', '--propagation', 'private', 'bash', join(work, 'driver.sh')], {
    env: { ...env, HOME: join(work, 'home') },
    extendEnv: false,
    detached: true,
    reject: false,
    stdin: 'ignore',
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, limitMs);
  const result = await child.finally(() => clearTimeout(timer));
  killGroup(child.pid);
  if (result.exitCode === 0 && !timedOut) return { ok: true, report: '' };
  return {
    ok: false,
    report: failureReport(file, blocks, String(result.stdout), result.exitCode, timedOut, limitMs),
  };
}

function killGroup(pid: number | undefined) {
  try {
    if (pid) process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function failureReport(
  file: string,
  blocks: Block[],
  output: string,
  exitCode: number | undefined,
  timedOut: boolean,
  limitMs: number,
): string {
  const parts = output.split(/^@@docs-block (\d+)@@$/m);
  const preamble = parts[0]!.trim();
  if (parts.length === 1) return `${file}: failed before its first sh block (exit ${exitCode}):\n${preamble}`;
  const index = Number(parts[parts.length - 2]);
  const block = blocks[index]!;
  const how = timedOut ? `did not finish within ${limitMs / 1000} s` : `failed (exit ${exitCode})`;
  return [
    `${file}:${block.line}: this sh block ${how}:`,
    block.code,
    '--- its output ---',
    parts[parts.length - 1]!.trim(),
  ].join('\n');
}
