/**
 * What the CB client needs of a server's answers, checked: a proxy's login page or a
 * foreign server's odd JSON is an error naming the call and what is wrong with the answer,
 * not "unexpected error: Cannot read properties of undefined". Fields the client does not
 * use pass through unchecked (a Part A server may send fewer).
 */
import { z } from 'zod/v3';
import { SnapupError } from '../errors.js';
import { fileHashesSchema, type SnapshotMeta } from '../protocol/types.js';

const metaFields = { name: z.string(), tag: z.string(), frozen: z.boolean() };

export const metaAnswer = z
  .object(metaFields)
  .passthrough()
  .transform((v) => v as unknown as SnapshotMeta);

const HEX40 = /^[0-9a-fA-F]{40}$/;
const CAPITALS = /[A-F]/;

/**
 * Hashes in any spelling of 40 hex digits, as the lowercase the client compares with.
 * Checked in one loop, in place: zod's per-element parse of a 40,000-hash answer raised a
 * push's peak memory by 25-39 MiB.
 */
const hashListAnswer = z.custom<string[]>().superRefine((value, ctx) => {
  if (!Array.isArray(value)) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'not a list' });
    return;
  }
  for (let i = 0; i < value.length; i++) {
    const h = value[i] as unknown;
    if (typeof h !== 'string' || !HEX40.test(h)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: [i], message: 'not 40 hex digits' });
      return;
    }
    if (CAPITALS.test(h)) value[i] = h.toLowerCase();
  }
});

export const newSnapshotAnswer = z.object({ snapshot: metaAnswer, notFound: hashListAnswer });

export const listAnswer = z.object({ snapshots: z.array(metaAnswer) });

/** A snapshot with its manifest: paths, hashes and permissions checked like a request's. */
export const snapshotAnswer = z
  .object({ ...metaFields, fileHashes: fileHashesSchema })
  .passthrough()
  .transform(({ fileHashes, ...meta }) => ({
    snapshot: meta as unknown as SnapshotMeta,
    fileHashes,
  }));

/** The JSON of a 2xx answer's `text`, checked against `schema`. */
export function parseAnswer<T>(
  text: string,
  contentType: string | undefined,
  schema: z.ZodType<T, z.ZodTypeDef, unknown>,
  where: string,
): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const start = JSON.stringify(text.slice(0, 60));
    throw new SnapupError(
      'BAD_RESPONSE',
      `${where}: the answer is not JSON (${contentType ?? 'no content type'}, ${start}); is the server a CB server, and not a proxy or login page?`,
    );
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.length ? issue.path.join('.') : 'body';
  throw new SnapupError(
    'BAD_RESPONSE',
    `${where}: the answer's ${field}: ${issue?.message ?? 'malformed'}`,
  );
}
