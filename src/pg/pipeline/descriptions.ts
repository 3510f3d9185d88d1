/**
 * Row descriptions a lane already has, so that a named statement it runs again is sent as
 * Bind/Execute/Sync without a Describe (what pgx does with its statement cache). The server
 * then sends no RowDescription, and the query's fields are a copy of the ones it sent the last
 * time this statement was described on this connection.
 *
 * Why that is the same answer: a named statement's result columns cannot change while it
 * exists. PostgreSQL prepares protocol-level statements with a fixed result, and when DDL (or
 * a new search_path) would change the columns' names, types or type modifiers, Bind fails with
 * 0A000 "cached plan must not change result type" instead (plancache.c), which the prepared
 * path answers by running the query again unnamed, described, and a new name for the text
 * (prepared/send.ts). What can differ is only `tableID` and `columnID` after a table is
 * dropped and created again with the very same columns while the statement lives: the copy
 * keeps the old ones (docs/compat.md).
 *
 * Only statements pg has already parsed on this connection qualify, so that the first run
 * under each name, and the first after every new Parse, is described as pg describes it.
 */

/** A RowDescription field as pg-protocol makes it (its `Field` class). */
export interface DescribedField {
  name: string;
  tableID: number;
  columnID: number;
  dataTypeID: number;
  dataTypeSize: number;
  dataTypeModifier: number;
  format: string;
}

/** The part of pg's Connection that a query's `prepare` writes through and this replaces. */
export interface DescribeWriter {
  describe(message: unknown): void;
}

/** Statement names remembered per lane; past this, the memory starts again. */
const kMaxDescribed = 256;

export class Descriptions {
  readonly #byName = new Map<string, DescribedField[]>();
  #connection: DescribeWriter | undefined = undefined;
  #withoutDescribe: DescribeWriter | undefined = undefined;

  /** A copy of the fields last described for `name`, or undefined. */
  fieldsFor(name: string): DescribedField[] | undefined {
    const fields = this.#byName.get(name);
    return fields === undefined ? undefined : fields.map(copyField);
  }

  /**
   * Remembers what the server described for `name` (fields with at least one column), as a
   * copy: `fields` are also the described query's own `result.fields`, which its user may
   * change. Once per statement and connection, never on the path that skips Describe.
   */
  remember(name: string, fields: DescribedField[]): void {
    if (fields.length === 0) return;
    if (this.#byName.size >= kMaxDescribed && !this.#byName.has(name)) this.#byName.clear();
    this.#byName.set(name, fields.map(copyField));
  }

  /**
   * `connection` with `describe` a no-op, for pg's `Query#prepare` to write through: every
   * other message goes to the connection itself (the object inherits from it). One per lane.
   */
  withoutDescribe<T extends DescribeWriter>(connection: T): T {
    if (this.#connection !== connection) {
      this.#connection = connection;
      this.#withoutDescribe = Object.create(connection, {
        describe: { value: (): void => undefined },
      }) as DescribeWriter;
    }
    return this.#withoutDescribe as T;
  }
}

/** A field of its own for each result: a user may change the objects in `result.fields`. */
function copyField(field: DescribedField): DescribedField {
  const Field = field.constructor as new (...args: unknown[]) => DescribedField;
  return new Field(
    field.name,
    field.tableID,
    field.columnID,
    field.dataTypeID,
    field.dataTypeSize,
    field.dataTypeModifier,
    field.format,
  );
}
