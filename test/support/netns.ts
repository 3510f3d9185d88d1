/**
 * A real network path that can be cut: a network namespace joined to this one by a veth pair,
 * with a forwarder inside it. Connections to `nsHost:port` cross the veth link, so taking the
 * link down makes the peer vanish without a FIN or RST: packets, keepalive probes included,
 * are simply lost, as when a firewall drops a flow or a host dies. (A userland proxy cannot do
 * this: its kernel keeps answering TCP for it.)
 *
 * Needs root and `ip` (iproute2). `netnsUnavailable` says why not, when it cannot run.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

const forwarderScript = fileURLToPath(new URL('../fixtures/forwarder.js', import.meta.url));

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

function probe(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace';
  try {
    execFileSync('ip', ['-V'], { stdio: 'pipe' });
  } catch {
    return 'needs the ip command (iproute2)';
  }
  return undefined;
}

/** Why a namespace cannot be made here, or undefined when it can. */
export const netnsUnavailable: string | undefined = probe();

export interface CuttablePath {
  /** Host and port to connect to: through the veth link, then on to the target. */
  readonly host: string;
  readonly port: number;
  /** Takes the link down: everything in flight or sent later is silently lost. */
  cut(): void;
  /** Brings the link back up. */
  restore(): void;
  close(): Promise<void>;
}

let counter = 0;

/** A path to `target` (on this host's loopback) that `cut()` can silently break. */
export async function startCuttablePath(target: {
  host: string;
  port: number;
}): Promise<CuttablePath> {
  const id = `lg${process.pid % 10_000}${counter++}`;
  // A /30 of its own per path, so that parallel files do not collide.
  const subnet = 16 + ((process.pid + counter * 7) % 200);
  const hostIp = `10.231.${subnet}.1`;
  const nsIp = `10.231.${subnet}.2`;
  const ns = `${id}ns`;
  const hostIf = `${id}h`;
  const nsIf = `${id}n`;
  let relay: Server | undefined;
  let forwarder: ChildProcess | undefined;
  const sockets = new Set<Socket>();
  const teardown = (): void => {
    forwarder?.kill('SIGKILL');
    for (const s of sockets) s.destroy();
    try {
      ip('netns', 'del', ns);
    } catch {
      // already gone
    }
    try {
      ip('link', 'del', hostIf);
    } catch {
      // deleted with the namespace
    }
  };
  try {
    ip('netns', 'add', ns);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    ip('link', 'set', nsIf, 'netns', ns);
    ip('addr', 'add', `${hostIp}/30`, 'dev', hostIf);
    ip('link', 'set', hostIf, 'up');
    ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${nsIp}/30`, 'dev', nsIf);
    ip('netns', 'exec', ns, 'ip', 'link', 'set', nsIf, 'up');
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    // The target listens on loopback, out of the namespace's reach: relay it on the host side
    // of the link.
    const server = createServer((client) => {
      const upstream = connect(target.port, target.host);
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    relay = server;
    await new Promise<void>((resolve) => server.listen(0, hostIp, resolve));
    const relayPort = (server.address() as { port: number }).port;
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        ns,
        process.execPath,
        forwarderScript,
        nsIp,
        '5432',
        hostIp,
        String(relayPort),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    forwarder = child;
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`forwarder exited with ${code}`)));
    });
  } catch (error) {
    relay?.close();
    teardown();
    throw error;
  }
  return {
    host: nsIp,
    port: 5432,
    cut: () => ip('netns', 'exec', ns, 'ip', 'link', 'set', nsIf, 'down'),
    restore: () => ip('netns', 'exec', ns, 'ip', 'link', 'set', nsIf, 'up'),
    close: async () => {
      teardown();
      await new Promise<void>((resolve) => (relay ? relay.close(() => resolve()) : resolve()));
    },
  };
}
