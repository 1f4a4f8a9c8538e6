/**
 * The generic part of the config loader: how a key of the schema is described ({@link Key},
 * made with {@link required}, {@link withDefault} or {@link optional}), and the walker that
 * reads a parsed YAML document against a schema ({@link readSchema}): every section must be a
 * mapping, every key must be known, every value is read by its key's {@link ValueType}, and a
 * missing value takes the key's default. The same schema lists the keys for the docs
 * ({@link schemaKeys}).
 *
 * @module
 */

import { configError } from "./config_error.ts";

/** What a {@link ValueType} may use while it reads a value. */
export interface ReadContext {
  /** Throw the {@link ConfigError} for `path`; the current value is shown when given. */
  fail(path: string, reason: string, ...value: [unknown?]): never;
  /** Relative paths in the file are taken relative to this directory. */
  readonly baseDir: string;
  /** The value of a key read before this one (keys are read in the schema's order). */
  earlier(key: string): unknown;
}

/** How the value of one key is checked and turned into its typed form. */
export interface ValueType<T> {
  /**
   * Read a value given in the file (or a key's default). `null` reaches it only for an
   * optional key without default, given as an explicit null.
   */
  read(value: unknown, path: string, ctx: ReadContext): T;
  /** The fixed keys of a mapping value (e.g. a relay): known keys, documented under it. */
  readonly fields?: readonly string[];
  /** The value is a mapping with free keys (addresses, domains), not sub-keys of the schema. */
  readonly freeKeys?: boolean;
}

/** Whether a key must be given, has a default, or may be absent. */
export type Presence = "required" | "default" | "optional";

/** One key of the schema: its type, whether and how it defaults, and its one line of doc. */
export class Key<T> {
  /** Type only: the value read for this key. */
  declare readonly value?: T;

  constructor(
    /** How the value is read. */
    readonly type: ValueType<unknown>,
    /** One line for the configuration reference (README). */
    readonly doc: string,
    readonly presence: Presence,
    /** The default, written as it would be in the file, read through {@link type}. */
    readonly defaultValue?: unknown,
    /** The default column of the reference, when it is not simply the default value. */
    readonly shown?: string,
  ) {}
}

/** A key that must be given. */
export function required<T>(type: ValueType<T>, doc: string): Key<T> {
  return new Key<T>(type, doc, "required");
}

/** A key with a default, written as it would be in the file (e.g. `"5m"`, `["0.0.0.0:25"]`). */
export function withDefault<T>(
  type: ValueType<T>,
  defaultValue: unknown,
  doc: string,
  shown?: string,
): Key<T> {
  return new Key<T>(type, doc, "default", defaultValue, shown);
}

/** A key that may be absent (its value is then `undefined`); `shown` says what that means. */
export function optional<T>(type: ValueType<T>, doc: string, shown: string): Key<T | undefined> {
  return new Key<T | undefined>(type, doc, "optional", undefined, shown);
}

/** A section of the schema: a mapping of names to keys or further sections. */
export type Section = { readonly [name: string]: Key<unknown> | Section };

/** The typed values read for a schema: the same shape, each key replaced by its value. */
export type Values<S extends Section> = {
  -readonly [K in keyof S]: S[K] extends Key<infer T> ? T
    : S[K] extends Section ? Values<S[K]>
    : never;
};

type Obj = Record<string, unknown>;

function isMapping(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const UNKNOWN = "is not a known key (see config.example.yaml)";

/**
 * Read a parsed YAML document against `schema`.
 *
 * @param source File name for error messages.
 * @param baseDir Relative paths in the file are taken relative to this directory.
 * @throws {ConfigError} naming the key and the reason.
 */
export function readSchema<S extends Section>(
  schema: S,
  doc: unknown,
  source: string,
  baseDir: string,
): Values<S> {
  const read = new Map<string, unknown>();
  const ctx: ReadContext = {
    fail(path, reason, ...value): never {
      throw configError(source, path, reason, ...value);
    },
    baseDir,
    earlier(key) {
      if (!read.has(key)) throw new Error(`config schema: "${key}" is read after its user`);
      return read.get(key);
    },
  };
  if (!isMapping(doc)) ctx.fail("(top level)", "must be a mapping of keys to values", doc);
  checkStructure(schema, doc, "", ctx);
  return readSection(schema, doc, "", ctx, read) as Values<S>;
}

/** Sections are mappings and hold only known keys; checked before any value is read. */
function checkStructure(schema: Section, obj: Obj, prefix: string, ctx: ReadContext): void {
  for (const [name, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${name}` : name;
    const spec = Object.hasOwn(schema, name) ? schema[name] : undefined;
    if (spec === undefined) ctx.fail(path, UNKNOWN);
    if (spec instanceof Key || v === undefined || v === null) continue;
    if (!isMapping(v)) ctx.fail(path, "must be a mapping", v);
    checkStructure(spec, v, path, ctx);
  }
}

function readSection(
  schema: Section,
  obj: Obj,
  prefix: string,
  ctx: ReadContext,
  read: Map<string, unknown>,
): Obj {
  const out: Obj = {};
  for (const [name, spec] of Object.entries(schema)) {
    const path = prefix ? `${prefix}.${name}` : name;
    const v = obj[name];
    if (spec instanceof Key) {
      out[name] = readKey(spec, v, path, ctx);
      read.set(path, out[name]);
    } else {
      out[name] = readSection(spec, isMapping(v) ? v : {}, path, ctx, read);
    }
  }
  return out;
}

function readKey(spec: Key<unknown>, v: unknown, path: string, ctx: ReadContext): unknown {
  if (v === undefined || (v === null && spec.presence !== "optional")) {
    if (spec.presence === "required") ctx.fail(path, "is required");
    if (spec.presence === "optional") return undefined;
    return spec.type.read(spec.defaultValue, path, ctx);
  }
  return spec.type.read(v, path, ctx);
}

/** A key of the schema with its dotted path, as listed in the docs. */
export interface KeyEntry {
  path: string;
  key: Key<unknown>;
}

/** Every key of `schema`, in order, as dotted paths (sections themselves are not listed). */
export function schemaKeys(schema: Section, prefix = ""): KeyEntry[] {
  return Object.entries(schema).flatMap(([name, spec]) => {
    const path = prefix ? `${prefix}.${name}` : name;
    return spec instanceof Key ? [{ path, key: spec }] : schemaKeys(spec, path);
  });
}

/**
 * The dotted paths a config file may contain: sections, keys, and the fixed fields of mapping
 * values (e.g. `outbound.smarthost.host`).
 */
export function knownPaths(schema: Section, prefix = ""): string[] {
  return Object.entries(schema).flatMap(([name, spec]) => {
    const path = prefix ? `${prefix}.${name}` : name;
    if (!(spec instanceof Key)) return [path, ...knownPaths(spec, path)];
    return [path, ...(spec.type.fields ?? []).map((f) => `${path}.${f}`)];
  });
}

type CamelCase<S extends string> = S extends `${infer H}_${infer T}`
  ? `${H}${Capitalize<CamelCase<T>>}`
  : S;

/** `values` with snake_case keys renamed to camelCase (`max_line_bytes` to `maxLineBytes`). */
export type CamelKeys<T> = { [K in keyof T & string as CamelCase<K>]: T[K] };

/**
 * A section's values under the camelCase names of the `Config` interface; keys without a value
 * (absent optional keys) are left out rather than set to `undefined`.
 */
export function camelKeys<T extends object>(values: T): CamelKeys<T> {
  const out: Obj = {};
  for (const [k, v] of Object.entries(values)) {
    if (v !== undefined) out[k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase())] = v;
  }
  return out as CamelKeys<T>;
}
