/**
 * The server's users: `<data>/users.json`, passwords as scrypt hashes (node:crypto).
 * A verified password is remembered (as a SHA-256) while the file is unchanged, since
 * scrypt is slow by design and clients authenticate on every request. A running server
 * reads the file again when `snapup user` changes it (checked at most once a second).
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod/v3';
import { fsError, SnapupError } from '../errors.js';
import { checkName } from '../protocol/types.js';
import { writeFileAtomic } from '../util/atomic.js';
import { parseJsonOrUndefined } from '../util/json.js';
import { makeDir } from '../util/make-dir.js';

const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

const PARAMS = { N: 16384, r: 8, p: 1, keylen: 32 };

const userSchema = z.object({
  salt: z.string(),
  hash: z.string(),
  N: z.number().int(),
  r: z.number().int(),
  p: z.number().int(),
});
const fileSchema = z.object({ users: z.record(z.string(), userSchema) });
type UserRecord = z.infer<typeof userSchema>;

/** How often, at most, a server looks whether the users file changed. */
const RECHECK_MS = 1000;

export class UserStore {
  private readonly file: string;
  private users: Record<string, UserRecord> = {};
  private readonly verified = new Map<string, string>();
  /** The users file as last read (ino, size, mtime), '' for none. */
  private seen = '';
  private checkedAt = 0;
  private checking: Promise<void> | undefined;

  private constructor(dataDir: string) {
    this.file = join(dataDir, 'users.json');
  }

  static async open(dataDir: string): Promise<UserStore> {
    const store = new UserStore(dataDir);
    await store.reload();
    return store;
  }

  async reload(): Promise<void> {
    let text: string;
    try {
      this.seen = await this.identity();
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.users = {};
        this.verified.clear();
        return;
      }
      throw fsError(err, this.file, 'read the users file');
    }
    const parsed = fileSchema.safeParse(parseJsonOrUndefined(text));
    if (!parsed.success)
      throw new SnapupError('CORRUPT_STORE', `${this.file}: users file is corrupt`, {
        path: this.file,
      });
    this.users = parsed.data.users;
    this.verified.clear();
  }

  /**
   * Reads the file again if it changed since it was read (a user added, removed or given
   * a new password by `snapup user` while the server runs). A file that became unreadable
   * or corrupt keeps the users last read, with `onError` told why.
   */
  async refresh(onError: (err: unknown) => void = () => {}): Promise<void> {
    if (performance.now() - this.checkedAt < RECHECK_MS) return this.checking;
    this.checkedAt = performance.now();
    this.checking = (async () => {
      if ((await this.identity().catch(() => this.seen)) !== this.seen)
        await this.reload().catch(onError);
    })();
    return this.checking;
  }

  /** ino, size and mtime of the file ('' when absent): a rename over it changes the ino. */
  private async identity(): Promise<string> {
    try {
      const st = await fsp.stat(this.file);
      return `${st.ino} ${st.size} ${st.mtimeMs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw err;
    }
  }

  names(): string[] {
    return Object.keys(this.users).sort();
  }

  has(name: string): boolean {
    return Object.hasOwn(this.users, name);
  }

  async remove(name: string): Promise<void> {
    if (!this.has(name))
      throw new SnapupError('NOT_FOUND', `user ${name}: no such user in ${this.file}`, {
        field: 'user',
      });
    delete this.users[name];
    await this.save();
  }

  async add(name: string, password: string): Promise<void> {
    checkName(name, 'user');
    if (password.length < 8) {
      throw new SnapupError('BAD_INPUT', 'password: use at least 8 characters', {
        field: 'password',
      });
    }
    const salt = randomBytes(16);
    const hash = await scryptAsync(password, salt, PARAMS.keylen, { ...PARAMS, maxmem: 64 << 20 });
    this.users[name] = {
      salt: salt.toString('base64'),
      hash: hash.toString('base64'),
      N: PARAMS.N,
      r: PARAMS.r,
      p: PARAMS.p,
    };
    await this.save();
  }

  private async save(): Promise<void> {
    try {
      await makeDir(dirname(this.file));
      await writeFileAtomic(this.file, JSON.stringify({ users: this.users }, null, 2), {
        mode: 0o600,
      });
    } catch (err) {
      throw fsError(err, this.file, 'save the users file');
    }
    this.verified.clear();
    this.seen = await this.identity().catch(() => '');
  }

  async verify(name: string, password: string): Promise<boolean> {
    const user = this.has(name) ? this.users[name] : undefined;
    if (!user) return false;
    const fingerprint = createHash('sha256').update(password).digest('hex');
    if (this.verified.get(name) === fingerprint) return true;
    const expected = Buffer.from(user.hash, 'base64');
    const actual = await scryptAsync(password, Buffer.from(user.salt, 'base64'), expected.length, {
      N: user.N,
      r: user.r,
      p: user.p,
      maxmem: 64 << 20,
    });
    const ok = actual.length === expected.length && timingSafeEqual(actual, expected);
    if (ok) this.verified.set(name, fingerprint);
    return ok;
  }
}
