/** The JSON in `text`, or undefined where it is not JSON (a schema then calls it corrupt). */
export function parseJsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
