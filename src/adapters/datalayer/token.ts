/**
 * The Datalayer SDK checks a token before any HTTP call (`validation.ts`): a JWT of three
 * base64url parts, 100-5000 characters, a JSON header with `alg`, a JSON payload, not
 * expired or not-yet-valid, and a signature of at least 20 characters. Failing fast here
 * saves a round trip and says what is wrong with the token.
 */
import { SnapupError } from '../../errors.js';

const B64URL = /^[A-Za-z0-9_-]+={0,2}$/;

function invalid(reason: string): SnapupError {
  return new SnapupError('BAD_INPUT', `Invalid token format: ${reason}`, { field: 'token' });
}

function decodePart(part: string, what: string): Record<string, unknown> {
  try {
    const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw invalid(`the ${what} is not base64url-encoded JSON`);
}

export function validateToken(token: string | undefined, nowSec = Date.now() / 1000): string {
  if (token === undefined || token.trim() === '') {
    throw new SnapupError(
      'BAD_INPUT',
      'Authentication token is required (--token or DATALAYER_TOKEN)',
      {
        field: 'token',
      },
    );
  }
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !B64URL.test(p))) {
    throw invalid('a JWT has three base64url parts separated by dots');
  }
  if (token.length < 100 || token.length > 5000) {
    throw invalid(`the token is ${token.length} characters long; a JWT here is 100 to 5000`);
  }
  const [header, payload, signature] = parts as [string, string, string];
  if (typeof decodePart(header, 'header').alg !== 'string')
    throw invalid('the header has no "alg"');
  const claims = decodePart(payload, 'payload');
  if (typeof claims.exp === 'number' && claims.exp < nowSec) {
    throw new SnapupError('UNAUTHORIZED', 'Token has expired', { field: 'token' });
  }
  if (typeof claims.nbf === 'number' && claims.nbf > nowSec) {
    throw new SnapupError('UNAUTHORIZED', 'Token is not valid yet (nbf is in the future)', {
      field: 'token',
    });
  }
  if (signature.length < 20) throw invalid('the signature part is shorter than 20 characters');
  return token;
}
