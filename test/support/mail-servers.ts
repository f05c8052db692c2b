import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { type SMTPServerAuthentication, type SMTPServerSession, SMTPServer } from 'smtp-server';

export interface MailUser {
  address: string;
  password: string;
}

export interface RelayedMail {
  /** `to` holds only the recipients that are not local users: what left for the outside world. */
  envelope: { from: string; to: string[] };
  raw: Buffer;
  /** Who the sender signed in as (none for the outside world's MTA). */
  user?: string;
}

type Endpoint = { host: '127.0.0.1'; port: number; secure: false };

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

const MISSING_DOVECOT = 'dovecot-imapd is required: .ci/run installs it';
const STARTUP_TIMEOUT_MS = 10_000;

function run(file: string, args: string[]): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(error);
        return;
      }
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/**
 * `dovecot` forks its daemon, which inherits stdout and stderr: with pipes, waiting for them to
 * close would wait for the daemon's end. Its output goes to a file instead, read once it exits.
 */
async function startDaemon(file: string, args: string[], outputFile: string): Promise<CommandResult> {
  const output = await fs.open(outputFile, 'w');
  try {
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(file, args, { stdio: ['ignore', output.fd, output.fd] });
      child.once('error', (error: NodeJS.ErrnoException) =>
        reject(error.code === 'ENOENT' ? new Error(`${MISSING_DOVECOT} (${file} not found)`) : error),
      );
      child.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1)));
    });
    return { code, stdout: '', stderr: await fs.readFile(outputFile, 'utf8') };
  } finally {
    await output.close();
  }
}

/** Debian puts dovecot in /usr/sbin, which a non-login shell's PATH may lack. */
function findBinary(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  throw new Error(`${MISSING_DOVECOT} (${name} is not on PATH)`);
}

async function vmailIds(): Promise<{ uid: number; gid: number }> {
  const uid = await run('id', ['-u', 'vmail']);
  const gid = await run('id', ['-g', 'vmail']);
  if (uid.code !== 0 || gid.code !== 0) {
    throw new Error('the system user vmail is required to own the test mailboxes (dovecot refuses to serve mail as root): .ci/run creates it');
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves with the first line the server sends, or rejects when nothing listens yet. */
function readGreeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let data = '';
    socket.setTimeout(2_000, () => socket.destroy(new Error('no greeting within 2 s')));
    socket.on('data', (chunk: Buffer) => {
      data += chunk.toString('latin1');
      const end = data.indexOf('\r\n');
      if (end >= 0) {
        socket.destroy();
        resolve(data.slice(0, end));
      }
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before a greeting')));
  });
}

/**
 * Dovecot's master is reparented to init when it daemonizes; an init that reaps slowly leaves it
 * a zombie for a while, which still answers kill(pid, 0) but holds no ports or files any more.
 */
async function alive(pid: number): Promise<boolean> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (stat === undefined) {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** Dovecot's helper processes (log, config, auth, imap, ...) are direct children of its master. */
async function childrenOf(parent: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await fs.readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await fs.readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    const ppid = /^PPid:\s+(\d+)$/m.exec(status);
    if (!ppid || Number(ppid[1]) !== parent) continue;
    const command = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (command.includes('dovecot')) children.push(Number(entry));
  }
  return children;
}

function normalize(address: string): string {
  return address.trim().toLowerCase();
}

/**
 * Options of the test servers. `oauth`: both also take XOAUTH2 logins, valid only for an access
 * token the given introspection endpoint (RFC 7662) calls active for that user.
 */
export interface MailServerOptions {
  oauth?: { introspectionUrl: string };
}

/** dovecot's oauth2 passdb asks the introspection endpoint about every token (nothing cached). */
function dovecotOAuthConfig(introspectionUrl: string): string {
  return `introspection_mode = post
introspection_url = ${introspectionUrl}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
`;
}

async function introspect(introspectionUrl: string, token: string): Promise<{ active: boolean; username?: string }> {
  const response = await fetch(introspectionUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }) });
  return (await response.json()) as { active: boolean; username?: string };
}

function dovecotConfig(dir: string, port: number, options: MailServerOptions = {}): string {
  // The passwd-file and userdb args cannot be quoted, hence plain paths (mkdtemp never adds spaces).
  return `# A private instance for one test file; nothing here touches /etc/dovecot.
protocols = imap
listen = 127.0.0.1
base_dir = ${dir}/run
state_dir = ${dir}/state
log_path = ${dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login${options.oauth ? ' xoauth2' : ''}
# Tests try wrong passwords on purpose: the default answers each failure after 2 s (0 still leaves
# about 0.5 s from the login process).
auth_failure_delay = 0
# INBOX in its own directory so recreateInbox can remove it whole: dovecot refuses to delete
# INBOX over IMAP and through doveadm alike.
mail_location = maildir:${dir}/mail/%u:INBOX=${dir}/mail/%u/INBOX
# The list index would keep answering STATUS with a removed INBOX's UIDVALIDITY.
mailbox_list_index = no
mail_fsync = never
first_valid_uid = 100
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u ${dir}/users
}
${
  options.oauth
    ? `passdb {
  driver = oauth2
  mechanisms = xoauth2
  args = ${dir}/oauth2.conf
}
`
    : ''
}userdb {
  driver = static
  args = uid=vmail gid=vmail home=${dir}/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
}
# Without its socket the auth process disables the per-IP failure penalty (2^n s, up to 15 s,
# on every further failed login from 127.0.0.1), which would otherwise stretch wrong-password tests.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
protocol imap {
  # The gateway under test and the test's own clients all come from 127.0.0.1.
  mail_max_userip_connections = 50
}
`;
}

const running = new Set<number>();
let exitHookInstalled = false;

/** A test file that dies before stop() would otherwise leave its dovecot running for good. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of running) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });
}

/**
 * A real IMAP server (dovecot, private config and mail folder) plus an SMTP server in front of it
 * that delivers into the users' INBOXes over IMAP APPEND, so every stored message gets its UID
 * from dovecot exactly as with a real delivery. Both listen on loopback ports of their own, so
 * several instances can run in parallel test files.
 */
export class TestMailServers {
  readonly imap: Endpoint;
  readonly smtp: Endpoint;
  readonly relayed: RelayedMail[] = [];

  private failures: { code: number; message: string }[] = [];
  private stopped = false;
  /** deliver() stands for the outside world's MTA: its EHLO name exempts it from failNextSmtp. */
  private readonly mtaName = `mta-${randomBytes(6).toString('hex')}.test`;

  private constructor(
    private readonly dir: string,
    private readonly configFile: string,
    private readonly doveadm: string,
    private readonly masterPid: number,
    imapPort: number,
    private readonly smtpServer: SMTPServer,
    smtpPort: number,
    private readonly users: Map<string, MailUser>,
  ) {
    this.imap = { host: '127.0.0.1', port: imapPort, secure: false };
    this.smtp = { host: '127.0.0.1', port: smtpPort, secure: false };
  }

  static async start(users: MailUser[], options: MailServerOptions = {}): Promise<TestMailServers> {
    const dovecot = findBinary('dovecot');
    const doveadm = findBinary('doveadm');
    const { uid, gid } = await vmailIds();

    const byAddress = new Map<string, MailUser>();
    for (const user of users) {
      if (/[:\s]/.test(user.address) || /[:\r\n]/.test(user.password)) {
        throw new Error(`passwd-file cannot hold ${JSON.stringify(user.address)}: no colons, whitespace or line breaks`);
      }
      byAddress.set(normalize(user.address), user);
    }

    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'leadgate-mail-'));
    const configFile = path.join(dir, 'dovecot.conf');
    let daemonStarted = false;
    let masterPid = 0;
    let smtpServer: SMTPServer | undefined;
    try {
      // The auth process (user dovecot) reads the users file and imap (user vmail) walks to the
      // mail folder: both need to get through the otherwise private temp dir.
      await fs.chmod(dir, 0o755);
      // Dovecot lowercases login names (auth_username_format = %Lu) before the passwd-file lookup.
      const lines = [...byAddress].map(([address, user]) => `${address}:{PLAIN}${user.password}\n`);
      await fs.writeFile(path.join(dir, 'users'), lines.join(''), { mode: 0o644 });
      await fs.mkdir(path.join(dir, 'trash'));
      await fs.mkdir(path.join(dir, 'mail'));
      for (const address of byAddress.keys()) await fs.mkdir(path.join(dir, 'mail', address));
      await chownTree(path.join(dir, 'mail'), uid, gid);

      let imapPort = 0;
      // Another process can take the probed port before dovecot binds it; a fresh one then helps.
      for (let attempt = 1; ; attempt++) {
        imapPort = await freePort();
        await fs.writeFile(configFile, dovecotConfig(dir, imapPort, options));
        if (options.oauth) await fs.writeFile(path.join(dir, 'oauth2.conf'), dovecotOAuthConfig(options.oauth.introspectionUrl), { mode: 0o644 });
        await fs.rm(path.join(dir, 'dovecot.log'), { force: true });
        const started = await startDaemon(dovecot, ['-c', configFile], path.join(dir, 'dovecot.out'));
        if (started.code === 0) {
          daemonStarted = true;
          break;
        }
        const log = await fs.readFile(path.join(dir, 'dovecot.log'), 'utf8').catch(() => '');
        const output = `${started.stderr}${log}`;
        if (attempt < 5 && /Address already in use/.test(output)) continue;
        throw new Error(`dovecot -c ${configFile} exited with ${started.code}:\n${output}`);
      }
      masterPid = await waitForMasterPid(dir);
      running.add(masterPid);
      installExitHook();
      await waitForImap(imapPort, dir);

      let instance: TestMailServers | undefined;
      smtpServer = new SMTPServer({
        authOptional: true,
        allowInsecureAuth: true,
        authMethods: options.oauth ? ['PLAIN', 'LOGIN', 'XOAUTH2'] : ['PLAIN', 'LOGIN'],
        disabledCommands: ['STARTTLS'],
        logger: false,
        // The default reverse DNS lookup of 127.0.0.1 costs every session a resolver round trip.
        disableReverseLookup: true,
        // A sender that keeps a pooled connection open must not hold stop() for the default 30 s.
        closeTimeout: 1_000,
        onAuth: (auth: SMTPServerAuthentication, _session, callback) => {
          const user = byAddress.get(normalize(auth.username ?? ''));
          if (auth.method === 'XOAUTH2' && options.oauth) {
            introspect(options.oauth.introspectionUrl, auth.accessToken ?? '').then(
              (answer) =>
                answer.active && user && normalize(answer.username ?? '') === normalize(user.address)
                  ? callback(null, { user: user.address })
                  : // XOAUTH2's failure: a JSON challenge, then 535 once the client answers it.
                    callback(null, { data: { status: '401', schemes: 'bearer', scope: 'https://mail.google.com/' } }),
              (error: unknown) => callback(Object.assign(new Error(`introspection failed: ${String(error)}`), { responseCode: 454 })),
            );
            return;
          }
          if (user && user.password === auth.password) {
            callback(null, { user: user.address });
            return;
          }
          callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
        },
        onData: (stream, session, callback) => {
          const failure = session.hostNameAppearsAs === instance?.mtaName ? undefined : instance?.failures.shift();
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => chunks.push(chunk));
          stream.once('end', () => {
            if (failure) {
              callback(Object.assign(new Error(failure.message), { responseCode: failure.code }));
              return;
            }
            instance!.store(Buffer.concat(chunks), session).then(
              () => callback(),
              (error: unknown) =>
                callback(Object.assign(new Error(`could not store the message: ${String(error)}`), { responseCode: 451 })),
            );
          });
        },
      });
      // Senders that are SIGKILLed mid-session reset their sockets; that is not a test failure.
      smtpServer.on('error', () => undefined);
      const server = smtpServer;
      await new Promise<void>((resolve, reject) => {
        server.server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve());
      });
      const smtpPort = (server.server.address() as net.AddressInfo).port;
      instance = new TestMailServers(dir, configFile, doveadm, masterPid, imapPort, server, smtpPort, byAddress);
      return instance;
    } catch (error) {
      if (smtpServer) await new Promise<void>((resolve) => smtpServer!.close(() => resolve()));
      if (daemonStarted) await stopDovecot(doveadm, configFile, masterPid || (await readMasterPid(dir)));
      await fs.rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Deliver a raw message to a user's INBOX through the SMTP server (as an MTA would), resolving when it is stored. */
  async deliver(raw: string | Buffer, envelope: { from: string; to: string[] }): Promise<void> {
    const transport = nodemailer.createTransport({
      host: this.smtp.host,
      port: this.smtp.port,
      secure: false,
      ignoreTLS: true,
      name: this.mtaName,
    });
    try {
      await transport.sendMail({ envelope, raw });
    } finally {
      transport.close();
    }
  }

  /** Raw messages currently in a user's mailbox (default INBOX), oldest first, with their UIDs. */
  async mailbox(user: MailUser, mailbox = 'INBOX'): Promise<{ uid: number; raw: Buffer }[]> {
    return this.withImap(user, async (client) => {
      // Read-only, so looking does not set \Seen on messages the gateway may still be waiting for.
      const opened = await client.mailboxOpen(mailbox, { readOnly: true });
      if (opened.exists === 0) return [];
      const messages: { uid: number; raw: Buffer }[] = [];
      for await (const message of client.fetch('1:*', { uid: true, source: true })) {
        if (!message.source) throw new Error(`dovecot returned no source for UID ${message.uid} in ${mailbox}`);
        messages.push({ uid: message.uid, raw: message.source });
      }
      return messages.sort((a, b) => a.uid - b.uid);
    });
  }

  /**
   * Make the SMTP server answer the next `count` DATA commands with this code (e.g. 451 transient,
   * 550 permanent). deliver() is not affected: the failures are meant for the gateway's own sends.
   */
  failNextSmtp(count: number, code: number, message: string): void {
    for (let i = 0; i < count; i++) this.failures.push({ code, message });
  }

  clearSmtpFailures(): void {
    this.failures = [];
  }

  /**
   * Recreate a user's INBOX (delete + create) so its UIDVALIDITY changes, keeping no messages;
   * UIDs start again at 1. Open sessions of the user are disconnected, as dovecot does with a
   * session whose selected mailbox was deleted.
   */
  async recreateInbox(user: MailUser): Promise<void> {
    const address = normalize(user.address);
    const inbox = path.join(this.dir, 'mail', address, 'INBOX');
    const removed = path.join(this.dir, 'trash', randomBytes(6).toString('hex'));
    // A rename is atomic: from here on, any login finds no INBOX and gets a new one.
    await fs.rename(inbox, removed).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
    // Sessions that still have the old INBOX selected would otherwise keep IDLEing on it unaware.
    await this.kick(user);
    await fs.rm(removed, { recursive: true, force: true });
    // Opening it now makes dovecot create it and hand out the new UIDVALIDITY before this returns.
    await this.withImap(user, (client) => client.status('INBOX', { uidValidity: true }));
  }

  /** Disconnects every open IMAP session of the user, as a server restart or an admin would. */
  async kick(user: MailUser): Promise<void> {
    const address = normalize(user.address);
    const kicked = await run(this.doveadm, ['-c', this.configFile, 'kick', address]);
    // 68 (EX_NOUSER): nobody was logged in.
    if (kicked.code !== 0 && kicked.code !== 68) throw new Error(`doveadm kick ${address} failed: ${kicked.stderr}`);
  }

  /**
   * Changes the user's password on both servers, as the account's owner would at the provider.
   * Dovecot reads the passwd-file again when it changes; open sessions stay logged in.
   */
  async setPassword(user: MailUser, password: string): Promise<void> {
    if (/[:\r\n]/.test(password)) throw new Error('passwd-file cannot hold a password with colons or line breaks');
    const address = normalize(user.address);
    if (!this.users.has(address)) throw new Error(`${address} is not a user of these servers`);
    this.users.set(address, { address: user.address, password });
    const lines = [...this.users].map(([name, entry]) => `${name}:{PLAIN}${entry.password}\n`);
    // Written aside and renamed: the auth process never reads a half-written file.
    const next = path.join(this.dir, `users.${randomBytes(4).toString('hex')}`);
    await fs.writeFile(next, lines.join(''), { mode: 0o644 });
    await fs.rename(next, path.join(this.dir, 'users'));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await new Promise<void>((resolve) => this.smtpServer.close(() => resolve()));
    await stopDovecot(this.doveadm, this.configFile, this.masterPid);
    await fs.rm(this.dir, { recursive: true, force: true });
  }

  private async store(raw: Buffer, session: SMTPServerSession): Promise<void> {
    const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const external: string[] = [];
    for (const { address } of session.envelope.rcptTo) {
      const user = this.users.get(normalize(address));
      if (!user) {
        external.push(address);
        continue;
      }
      await this.withImap(user, async (client) => {
        const appended = await client.append('INBOX', raw);
        if (!appended) throw new Error(`APPEND to ${user.address}'s INBOX failed`);
      });
    }
    if (external.length > 0) this.relayed.push({ envelope: { from, to: external }, raw, ...(typeof session.user === 'string' ? { user: session.user } : {}) });
  }

  private async withImap<T>(user: MailUser, work: (client: ImapFlow) => Promise<T>): Promise<T> {
    const client = new ImapFlow({
      host: this.imap.host,
      port: this.imap.port,
      secure: false,
      auth: { user: user.address, pass: user.password },
      logger: false,
    });
    // Failures also reject the pending command; without a listener the emitter would throw instead.
    client.on('error', () => undefined);
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.logout().catch(() => client.close());
    }
  }
}

async function chownTree(root: string, uid: number, gid: number): Promise<void> {
  await fs.chown(root, uid, gid);
  for (const entry of await fs.readdir(root, { withFileTypes: true })) {
    const target = path.join(root, entry.name);
    if (entry.isDirectory()) await chownTree(target, uid, gid);
    else await fs.chown(target, uid, gid);
  }
}

async function readMasterPid(dir: string): Promise<number> {
  const text = await fs.readFile(path.join(dir, 'run', 'master.pid'), 'utf8').catch(() => '');
  return /^\d+\s*$/.test(text) ? Number(text.trim()) : 0;
}

/** The foreground `dovecot` exits as soon as it has forked, before the daemon writes its pid file. */
async function waitForMasterPid(dir: string): Promise<number> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    const pid = await readMasterPid(dir);
    if (pid > 0) return pid;
    if (Date.now() > deadline) throw new Error(`dovecot wrote no ${dir}/run/master.pid within ${STARTUP_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function waitForImap(port: number, dir: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const greeting = await readGreeting(port);
      if (greeting.startsWith('* OK')) return;
      last = greeting;
    } catch (error) {
      last = String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const log = await fs.readFile(path.join(dir, 'dovecot.log'), 'utf8').catch(() => '');
  throw new Error(`dovecot did not greet on 127.0.0.1:${port} within ${STARTUP_TIMEOUT_MS / 1000} s (last: ${last}):\n${log}`);
}

/** `masterPid` 0 means unknown: then only doveadm is asked, since signalling pid 0 would hit our own group. */
async function stopDovecot(doveadm: string, configFile: string, masterPid: number): Promise<void> {
  const children = masterPid > 0 ? await childrenOf(masterPid) : [];
  let stopperExited!: () => void;
  const stopperDone = new Promise<void>((resolve) => (stopperExited = resolve));
  const stopper = execFile(doveadm, ['-c', configFile, 'stop'], () => stopperExited());
  if (masterPid <= 0) {
    await stopperDone;
    return;
  }
  // doveadm stop only returns once the pid is gone, zombie time included: watch the master instead,
  // then end the doveadm that would linger until init reaps it (it ignores SIGTERM while waiting).
  const deadline = Date.now() + 5_000;
  while ((await alive(masterPid)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
  if (stopper.exitCode === null && stopper.signalCode === null) stopper.kill('SIGKILL');
  await stopperDone;
  for (const pid of [masterPid, ...children]) {
    if (!(await alive(pid))) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited in between
    }
  }
  running.delete(masterPid);
}
