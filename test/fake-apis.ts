/**
 * Small stateful fakes of the Datalayer and VergeOS APIs on 127.0.0.1, for the shared
 * lifecycle suite and the CLI tests (a CLI process cannot see an in-process MockAgent).
 * They follow the wire shapes of specs/seed-apis.md; the exact-request tests use MockApi.
 */

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** The SDK tests' MOCK_JWT_TOKEN shape: HS256 header, far-future exp, 47 filler characters. */
export const MOCK_JWT = [
  b64({ alg: 'HS256', typ: 'JWT' }),
  b64({
    sub: 'test-user-id',
    iss: 'datalayer',
    iat: 1700000000,
    aud: 'datalayer-api',
    exp: 9999999999,
  }),
  'x'.repeat(47),
].join('.');
