/**
 * The query object a lane hands to pg: pg's own `Query`, so that results, type parsers,
 * `rowMode`, errors and pg's pipeline bookkeeping stay exactly pg's, with one change in what
 * it does. When a RowDescription arrives, pg's `Result#addFields` builds the row template
 * afresh for every query: a parser lookup per field, a null-prototype object in dictionary
 * mode, and a spread of it (0.7 µs of a 20 µs query with one column, more with more). A lane
 * answers the same few statements over and over, so it keeps what `addFields` built, per
 * statement text (`RowShapes`), and reuses it when the new description matches. (And a config
 * object is not copied: see the constructor.)
 *
 * "Matches" is checked on every use, not assumed: the same column names and formats in the
 * same order, and for each column the parser the query's type overrides give *now* (so a
 * `types` option in the config, or a `setTypeParser` since, is a miss, and pg's own
 * `addFields` runs). The result's `fields` are always this message's own objects.
 *
 * pg accepts only its own `Query` class in pipeline mode (lib/client.js refuses other
 * Submittables), so this is used only when the lane's client is this pg's `Client` with its
 * own `query` method; anything else gets the plain `(config, values, callback)` call.
 */
import pg from 'pg';

import type { QueryInput, QueryValues } from '../dispatch.js';
import type { QueryConfig } from '../types.js';
import { Descriptions, type DescribedField, type DescribeWriter } from './descriptions.js';
import type { QueryIssuer } from '../prepared/send.js';

/** The field parts of a RowDescription that `addFields` reads. */
interface FieldDescription {
  name: string;
  dataTypeID: number;
  format?: string;
}

/** The parts of pg's `Result` (lib/result.js) that `addFields` sets. */
interface ResultInternals {
  fields: FieldDescription[];
  _parsers: unknown[] | undefined;
  _prebuiltEmptyResultObject: object | null;
  _types?: { getTypeParser(oid: number, format: string): unknown };
  addFields(fields: FieldDescription[]): void;
}

/** The parts of pg's `Query` (lib/query.js) that `handleRowDescription` uses. */
interface QueryInternals {
  text?: string;
  name?: unknown;
  hasBeenParsed(connection: unknown): unknown;
  callback?: unknown;
  _result: ResultInternals;
  _accumulateRows: unknown;
  _checkForMultirow(): void;
  listeners(event: string): unknown[];
}

/** What `addFields` built for one statement. */
interface RowShape {
  readonly names: string[];
  readonly formats: string[];
  readonly parsers: unknown[];
  readonly empty: object | null;
}

/** Statements remembered per lane; past this, the memory starts again (no per-query cost). */
const kMaxShapes = 256;

/** A lane's row shapes, by statement text. */
export class RowShapes {
  readonly #byText = new Map<string, RowShape>();

  /** Sets `result`'s fields as `addFields(fields)` would, reusing a matching shape. */
  apply(text: string | undefined, result: ResultInternals, fields: FieldDescription[]): void {
    const shape = text === undefined ? undefined : this.#byText.get(text);
    if (shape !== undefined && matches(shape, result, fields)) {
      result.fields = fields;
      result._parsers = shape.parsers;
      result._prebuiltEmptyResultObject = shape.empty;
      return;
    }
    result.addFields(fields);
    if (text === undefined || fields.length === 0 || result._parsers === undefined) return;
    if (this.#byText.size >= kMaxShapes) this.#byText.clear();
    this.#byText.set(text, {
      names: fields.map((field) => field.name),
      formats: fields.map(formatOf),
      parsers: result._parsers,
      empty: result._prebuiltEmptyResultObject,
    });
  }
}

function formatOf(field: FieldDescription): string {
  return field.format || 'text';
}

function matches(shape: RowShape, result: ResultInternals, fields: FieldDescription[]): boolean {
  const types = result._types;
  const count = fields.length;
  if (types === undefined || count !== shape.names.length) return false;
  for (let i = 0; i < count; i++) {
    const field = fields[i]!;
    const format = formatOf(field);
    if (field.name !== shape.names[i] || format !== shape.formats[i]) return false;
    if (types.getTypeParser(field.dataTypeID, format) !== shape.parsers[i]) return false;
  }
  return true;
}

/** The fields pg's `Query` constructor sets from a config (lib/query.js). */
interface QueryFields {
  values: unknown;
  rows: unknown;
  types: unknown;
  name: unknown;
  queryMode: unknown;
  binary: unknown;
  portal: unknown;
  _rowMode: unknown;
  _result: { constructor: new (rowMode: unknown, types: unknown) => object };
  _results: unknown;
}

/**
 * What pg's `Query` constructor takes from `config` (a copy of it, there), for a query built
 * from its text alone: values given apart win, as in pg's `normalizeQueryConfig`.
 */
function adopt(query: QueryFields, config: QueryConfig, values: QueryValues): void {
  const c = config as Partial<Record<keyof QueryFields | 'rowMode', unknown>>;
  if (!values) query.values = c.values;
  query.rows = c.rows;
  query.types = c.types;
  query.name = c.name;
  query.queryMode = c.queryMode;
  query.binary = c.binary;
  query.portal = c.portal || '';
  query._rowMode = c.rowMode;
  if (c.rowMode !== undefined || c.types !== undefined) {
    query._result = new query._result.constructor(c.rowMode, c.types) as QueryFields['_result'];
    query._results = query._result;
  }
}

/** pg's Query, with row shapes reused (see the top of this file). */
export class LaneQuery extends pg.Query {
  // TS-private, not #private: V8 handles # fields on this hot path less well (BENCHMARKS.md).
  private readonly shapes: RowShapes;
  private readonly descriptions: Descriptions;

  constructor(
    query: QueryInput,
    values: QueryValues,
    callback: (error: unknown, result: pg.QueryResult) => void,
    shapes: RowShapes,
    descriptions: Descriptions,
  ) {
    // A config object goes in as its text, its other fields taken after: pg copies every
    // config object with `Object.getOwnPropertyDescriptors` (pg 8.23), a sixth of a pipelined
    // query's client CPU. A lane never gets `callback`, `rows` or `query_timeout` in a config
    // (pipelinable.ts), the three fields pg reads other than in this constructor.
    const config = typeof query === 'object' && typeof query.text === 'string' ? query : undefined;
    super(config === undefined ? (query as pg.QueryConfig) : config.text, values, callback);
    if (config !== undefined) adopt(this as unknown as QueryFields, config, values);
    this.shapes = shapes;
    this.descriptions = descriptions;
  }

  /**
   * As pg's `Query#prepare` (Parse if needed, Bind, Describe, Execute, Sync), without the
   * Describe when this connection has described the statement already (descriptions.ts).
   */
  prepare(connection: DescribeWriter): void {
    const self = this as unknown as QueryInternals;
    const name = statementName(self);
    const fields =
      name !== undefined && self.hasBeenParsed(connection)
        ? this.descriptions.fieldsFor(name)
        : undefined;
    if (fields === undefined) {
      basePrepare.call(this, connection);
      return;
    }
    this.useFields(self, fields);
    basePrepare.call(this, this.descriptions.withoutDescribe(connection));
  }

  /** As pg's `Query#handleRowDescription`, with `addFields` through the lane's shapes. */
  handleRowDescription(message: { fields: FieldDescription[] }): void {
    const self = this as unknown as QueryInternals;
    this.useFields(self, message.fields);
    const name = statementName(self);
    if (name !== undefined) this.descriptions.remember(name, message.fields as DescribedField[]);
  }

  private useFields(self: QueryInternals, fields: FieldDescription[]): void {
    self._checkForMultirow();
    this.shapes.apply(self.text, self._result, fields);
    self._accumulateRows = self.callback || !self.listeners('row').length;
  }
}

/** The query's statement name, when it runs under one (pg: a non-empty `name`). */
function statementName(query: QueryInternals): string | undefined {
  const name = query.name;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** pg's own `Query#prepare`, called on a LaneQuery. */
const basePrepare = (
  pg.Query.prototype as unknown as { prepare: (this: pg.Query, connection: DescribeWriter) => void }
).prepare;

/** Whether `client` takes a `LaneQuery`: this pg's Client, its `query` not replaced. */
export function takesLaneQuery(client: pg.Client): boolean {
  return client instanceof pg.Client && client.query === pg.Client.prototype.query;
}

/**
 * How a lane hands pg its queries (prepared/send.ts's `QueryIssuer`): as `LaneQuery`s sharing
 * one `RowShapes` when the client takes them, as pg's plain callback call otherwise.
 */
export function laneIssuer(pgClient: pg.Client): QueryIssuer {
  // Looked up at each call, not bound: instrumentation may patch `query` after the lane opens.
  const client = pgClient as unknown as { query(...args: unknown[]): void };
  if (!takesLaneQuery(pgClient)) {
    return { query: (config, values, callback) => client.query(config, values, callback) };
  }
  const shapes = new RowShapes();
  const descriptions = new Descriptions();
  return {
    query: (config, values, callback) =>
      client.query(new LaneQuery(config as QueryInput, values, callback, shapes, descriptions)),
  };
}
