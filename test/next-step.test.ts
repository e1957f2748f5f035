/** What the CLI adds to an error: the next step for a failure that has one. */
import { describe, expect, it } from 'vitest';
import { remoteInterruptAdvice, withNextStep } from '../src/cli/context.js';
import { SnapupError } from '../src/errors.js';

describe('withNextStep', () => {
  it('adds the hint of its code, keeping code, path, data and exit status; others pass through', async () => {
    const full = new SnapupError('DISK_FULL', '/store/objects: no space left on device', {
      path: '/store/objects',
      data: { written: 3 },
    });
    const hinted = await withNextStep(Promise.reject(full), { DISK_FULL: 'free some space' }).catch(
      (err: unknown) => err,
    );
    expect(hinted).toBeInstanceOf(SnapupError);
    expect(hinted).toMatchObject({
      code: 'DISK_FULL',
      message: '/store/objects: no space left on device; free some space',
      path: '/store/objects',
      data: { written: 3 },
      exitCode: full.exitCode,
      cause: full,
    });
    const other = new SnapupError('NOT_FOUND', 'gone');
    await expect(withNextStep(Promise.reject(other), { DISK_FULL: 'x' })).rejects.toBe(other);
    const plain = new Error('not ours');
    await expect(withNextStep(Promise.reject(plain), { DISK_FULL: 'x' })).rejects.toBe(plain);
    await expect(withNextStep(Promise.resolve(7), { DISK_FULL: 'x' })).resolves.toBe(7);
  });
});

describe('remoteInterruptAdvice', () => {
  it('warns against running a remote request again, and leaves folders to their own advice', () => {
    const verge = { kind: 'verge' as const, description: 'VergeOS at https://verge.test/api/v4' };
    expect(remoteInterruptAdvice(verge)).toBe(
      'VergeOS at https://verge.test/api/v4 may still carry out the request: check there before running it again',
    );
    expect(remoteInterruptAdvice({ kind: 'datalayer', description: 'Datalayer' })).toContain(
      'may still carry out the request',
    );
    expect(remoteInterruptAdvice({ kind: 'local', description: 'local store /s' })).toBeUndefined();
    expect(remoteInterruptAdvice({ kind: 'cb', description: 'CB server' })).toBeUndefined();
  });
});
