/**
 * The error of a configuration mistake, and the one place its message is worded:
 * `Cannot load config "<source>": "<key>" <reason>: current value is <value>`.
 *
 * @module
 */

/** A configuration mistake. The message names the key and the reason. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * The error for `key` of the config from `source`. The current value is quoted (as JSON) when
 * one is given, even `undefined`; leave it out when there is none worth showing.
 */
export function configError(
  source: string,
  key: string,
  reason: string,
  ...value: [unknown?]
): ConfigError {
  const current = value.length > 0 ? `: current value is ${describe(value[0])}` : "";
  return new ConfigError(`Cannot load config "${source}": "${key}" ${reason}${current}`);
}

function describe(v: unknown): string {
  return JSON.stringify(v) ?? String(v);
}
