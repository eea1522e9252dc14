import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { execa, type Result } from 'execa';
import { toolCommandLine } from '../core/command.js';
import { dockerClientEnv, toolEnv } from '../process/env.js';

// USE_DOCKER: the worker's own connections (the dump's snapshot and row counts, a restore's checks of
// its target) reach a server whose port is not published the way its tools do, through `docker exec`.
// pg.Client takes a stream for its socket; this one is the standard input and output of a relay
// that runs in the container and joins them to HOST:PORT as the container sees it.

/** $0 in the container's process list and in bash's messages; tests look processes up by it. */
export const RELAY_NAME = 'durable-backup-relay';

/**
 * bash's /dev/tcp opens the connection (the postgres images are Debian's, with bash). Both copies run
 * in the background so that whichever side ends first, the client's input or the server's socket,
 * ends the other: the relay exits and the socket closes, leaving no process behind in the container.
 * A background job's stdin would be /dev/null without the explicit <&0. The last `wait` reaps the
 * copies: an orphan goes to the container's PID 1, which in the postgres images is the postmaster,
 * and the postmaster takes a child it does not know, killed by a signal, for a crashed backend.
 */
const RELAY_SCRIPT = [
  'exec 3<>"/dev/tcp/$1/$2" || exit',
  'cat <&3 & cat <&0 >&3 & wait -n',
  'kill $(jobs -p) 2>/dev/null',
  'wait',
  'exit 0',
].join('\n');

/** How long a relay may take to exit once its input is closed before it is killed. */
const EXIT_GRACE_MS = 2_000;

/** bash's words for a connection that failed, as the Node error codes databaseError explains. */
const RELAY_FAILURES: [RegExp, string][] = [
  [/connection refused/i, 'ECONNREFUSED'],
  [/name or service not known|temporary failure in name resolution|no address associated/i, 'ENOTFOUND'],
  [/connection timed out/i, 'ETIMEDOUT'],
  [/connection reset/i, 'ECONNRESET'],
];

/** A relay that could not connect or ended early; `result` is the `docker exec` that ran it. */
export class RelayError extends Error {
  readonly code: string | undefined;

  constructor(
    readonly container: string,
    readonly result: Result,
  ) {
    const stderr = String(result.stderr ?? '');
    const line = stderr.split('\n').find((l) => l.trim() !== '') ?? '';
    // bash prefixes its messages with $0 and a line number; the rest is the reason.
    const reason = line.replace(/^(\S+: )?(line \d+: )?/, '').trim();
    super(reason || `the relay in container "${container}" ended with exit code ${result.exitCode}`);
    this.code = (result as { code?: string }).code ?? RELAY_FAILURES.find(([re]) => re.test(stderr))?.[1];
  }
}

function startRelay(container: string, host: string, port: string) {
  const line = toolCommandLine('bash', ['-c', RELAY_SCRIPT, RELAY_NAME, host, port], ['LC_MESSAGES'], {
    dockerContainer: container,
  });
  return execa(line.file, line.args, {
    ...toolEnv(dockerClientEnv()),
    reject: false,
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false },
  });
}

/**
 * The part of net.Socket that pg's Connection uses (connect, the 'connect' event, setNoDelay,
 * setKeepAlive, ref, unref, end, destroy), over a relay in `container`. Ending it closes the relay's
 * input, which ends the relay; destroying it also kills `docker exec` if the relay does not end.
 */
export class DockerRelay extends Duplex {
  private relay?: ReturnType<typeof startRelay>;
  private exited?: Promise<unknown>;

  constructor(private readonly container: string) {
    // Like a socket: when the server's side ends, so does ours, and pg sees the connection close.
    super({ allowHalfOpen: false });
  }

  connect(port: number, host: string): this {
    const relay = startRelay(this.container, host, String(port));
    this.relay = relay;
    relay.once('spawn', () => this.emit('connect'));
    // EPIPE once the relay has exited: its exit status and stderr say why (see whenExited).
    relay.stdin.on('error', () => undefined);
    relay.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) relay.stdout.pause();
    });
    // execa settles after the exit and once stdout has been read to its end.
    this.exited = relay.then((result) => this.whenExited(result));
    return this;
  }

  private whenExited(result: Result): void {
    if (this.destroyed) return;
    if (result.failed) this.destroy(new RelayError(this.container, result));
    else this.push(null);
  }

  setNoDelay(): this {
    return this; // a pipe has no Nagle; the relay's TCP socket is bash's
  }

  setKeepAlive(): this {
    return this;
  }

  ref(): this {
    this.relay?.ref();
    for (const pipe of this.pipes()) pipe.ref();
    return this;
  }

  unref(): this {
    this.relay?.unref();
    for (const pipe of this.pipes()) pipe.unref();
    return this;
  }

  private pipes(): Socket[] {
    const relay = this.relay;
    return relay ? [relay.stdin, relay.stdout, relay.stderr].map((pipe) => pipe as unknown as Socket) : [];
  }

  override _read(): void {
    this.relay?.stdout.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const stdin = this.relay?.stdin;
    if (!stdin) return callback(new Error('the relay is not connected'));
    if (stdin.write(chunk)) callback();
    else stdin.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.relay?.stdin.end();
    void (this.exited ?? Promise.resolve()).then(() => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const relay = this.relay;
    if (!relay || relay.exitCode !== null || relay.signalCode !== null) return callback(error);
    relay.stdin.destroy();
    const kill = setTimeout(() => relay.kill('SIGKILL'), EXIT_GRACE_MS);
    void this.exited!.then(() => {
      clearTimeout(kill);
      callback(error);
    });
  }
}
