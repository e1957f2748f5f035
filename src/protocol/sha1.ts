/**
 * The one spelling of a SHA-1 the protocol and the store accept: 40 lowercase hex digits.
 * A module of its own so that worker threads can check hashes without loading zod.
 */
export const SHA1_RE = /^[0-9a-f]{40}$/;
