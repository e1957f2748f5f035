/**
 * VergeOS filter expressions (OData-like), built the way pyvergeos's `build_filter` does:
 * values are formatted, never pasted, so a name such as `it's` cannot change the query.
 */
import { SnapupError } from '../../errors.js';

export type FilterScalar = string | number | boolean | null;
export type FilterValue = FilterScalar | readonly FilterScalar[];

/** Field names are identifiers; anything else could smuggle operators into the filter. */
const FIELD_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function checkField(field: string): string {
  if (!FIELD_RE.test(field)) {
    throw new SnapupError('BAD_INPUT', `filter field "${field}" is not a plain field name`, {
      field: 'filter',
    });
  }
  return field;
}

/** `null`, `true`/`false`, bare numbers, and strings in single quotes with quotes doubled. */
export function formatValue(value: FilterScalar): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new SnapupError('BAD_INPUT', `filter value ${value} is not a finite number`, {
        field: 'filter',
      });
    }
    return String(value);
  }
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * One clause per field, joined with ` and `; undefined values are skipped. A list gives
 * `in (...)`, a string with `*` or `?` gives `like` (`*` → `%`, `?` → `_`), anything
 * else `eq`.
 */
export function buildFilter(conditions: Record<string, FilterValue | undefined>): string {
  const clauses: string[] = [];
  for (const [field, value] of Object.entries(conditions)) {
    if (value === undefined) continue;
    checkField(field);
    if (Array.isArray(value)) {
      clauses.push(
        `${field} in (${(value as readonly FilterScalar[]).map(formatValue).join(', ')})`,
      );
    } else if (typeof value === 'string' && /[*?]/.test(value)) {
      clauses.push(`${field} like ${formatValue(value.replaceAll('*', '%').replaceAll('?', '_'))}`);
    } else {
      clauses.push(`${field} eq ${formatValue(value as FilterScalar)}`);
    }
  }
  return clauses.join(' and ');
}

/** The lookup-by-name filter: `name eq '<name>'`, quotes doubled. */
export function nameFilter(name: string): string {
  return `name eq ${formatValue(name)}`;
}
