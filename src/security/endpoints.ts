/**
 * The endpoint allow-list: which S3 and SQS endpoints a job may make the
 * worker connect to (with the worker's own AWS credentials).
 *
 * A job config names hosts in `endpoint_url` and `queue_url`, and `region`
 * becomes part of AWS's host names (`s3.<region>.amazonaws.com`). Without a
 * list, anyone who may create a job could point the worker at an internal
 * address, a cloud metadata address or a host they control.
 *
 * Every URL is parsed with the WHATWG URL parser (the one Node, the AWS SDK
 * and the lean S3 lister use), and only the normalized scheme, host and port
 * are compared: `http://2130706433/`, `http://0x7f.1/`, `HTTP://LOCALHOST./`,
 * `[::ffff:169.254.169.254]` and the like are compared as the host they
 * really name. A URL with a user name or password, a query or a fragment is
 * refused outright, and so is any scheme but http and https.
 *
 * The list: `CLP_ALLOWED_ENDPOINTS` (comma-separated `scheme://host[:port]`,
 * where host may start with `*.` to take any subdomain of the rest; default
 * AWS's own `https://*.amazonaws.com,https://*.amazonaws.com.cn`), plus the
 * endpoints the worker itself is configured with (`AWS_ENDPOINT_URL`,
 * `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_SQS`), which it reaches anyway.
 *
 * Checked twice: when a job is created (REST 400, CLI exit 2, nothing
 * recorded) and by the worker before it connects (a non-retryable activity
 * failure naming the field), so a row or a workflow started by another path
 * cannot get past it.
 */
import { ApplicationFailure } from '@temporalio/common';
import { InvalidConfigError, type JobConfig } from '../config/job-config';
import { definitionOf } from '../sources/definitions';

/** The failure type the job workflow treats as final (src/activities/errors.ts). */
const NON_RECOVERABLE = 'NonRecoverableIngestionError';

export const ALLOWED_ENDPOINTS_SETTING = 'CLP_ALLOWED_ENDPOINTS';

/** AWS's own endpoints (commercial and China partitions), https only. */
export const AWS_ENDPOINTS = 'https://*.amazonaws.com,https://*.amazonaws.com.cn';

/** The job fields that name (part of) a host the worker connects to. */
export type EndpointField = 'endpoint_url' | 'queue_url' | 'region' | 'urls';

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

interface Pattern {
  scheme: string;
  /** The normalized host, without the leading "*." of a wildcard. */
  host: string;
  /** True: any host ending in ".<host>" (not <host> itself). */
  wildcard: boolean;
  port: string;
  /** As written, for messages. */
  text: string;
}

/** A URL that may not be used, and why; an InvalidConfigError, so REST answers 400 and the CLI exits 2. */
export class EndpointRefusedError extends InvalidConfigError {
  override name = 'EndpointRefusedError';
  constructor(
    readonly field: EndpointField,
    readonly endpoint: string,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

/** The host a URL really names: WHATWG-normalized (IPv4 spellings, IPv6, case, IDN) without a trailing dot. */
function normalizedHost(url: URL): string {
  const host = url.hostname;
  return host.endsWith('.') && !host.startsWith('[') ? host.slice(0, -1) : host;
}

function effectivePort(url: URL): string {
  return url.port || DEFAULT_PORTS[url.protocol];
}

function hasControlOrSpace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

const isIpLiteral = (host: string) => host.startsWith('[') || /^[0-9.]+$/.test(host);

/** A URL for messages: never with a user name or password, never very long. */
export function displayUrl(raw: string): string {
  let shown = raw;
  try {
    const url = new URL(raw);
    if (url.username || url.password) {
      url.username = '';
      url.password = '';
      shown = url.href.replace('//', '//<userinfo removed>@');
    }
  } catch {
    // not a URL: shown as given (it carries no parsed userinfo)
  }
  shown = JSON.stringify(shown.length > 200 ? `${shown.slice(0, 200)}…` : shown);
  return shown;
}

/** Parses one allow-list entry: `scheme://host[:port]`, host optionally `*.domain`. */
function parsePattern(text: string): Pattern {
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/(\*\.)?([^/?#@]+?)\/?$/.exec(text);
  if (!m) throw new Error(`"${text}" is not scheme://host[:port] (host may start with *.)`);
  const [, schemeText, star, hostPort] = m;
  const scheme = `${schemeText.toLowerCase()}:`;
  if (!DEFAULT_PORTS[scheme]) throw new Error(`"${text}": only http and https endpoints can be allowed`);
  let url: URL;
  try {
    url = new URL(`${scheme}//${hostPort}`);
  } catch {
    throw new Error(`"${text}" is not a valid host[:port]`);
  }
  const host = normalizedHost(url);
  if (!host.startsWith('[') && !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(host))
    throw new Error(`"${text}": "${host}" is not a host name or address`);
  if (star && (isIpLiteral(host) || !host.includes('.')))
    throw new Error(`"${text}": a wildcard needs a domain with at least two labels, not an address`);
  return { scheme, host, wildcard: Boolean(star), port: effectivePort(url), text };
}

export class EndpointAllowList {
  private constructor(private readonly patterns: readonly Pattern[]) {}

  /**
   * `configured`: the CLP_ALLOWED_ENDPOINTS value (undefined: AWS's own
   * endpoints; empty: none); `own`: the worker's own endpoints by variable
   * name, always allowed. Throws an Error naming the variable and the entry.
   */
  static from(
    configured: string | undefined,
    own: Readonly<Record<string, string | undefined>> = {},
  ): EndpointAllowList {
    const entries: Pattern[] = [];
    for (const text of (configured ?? AWS_ENDPOINTS).split(',').map((s) => s.trim())) {
      if (!text) continue;
      try {
        entries.push(parsePattern(text));
      } catch (err) {
        throw new Error(`${ALLOWED_ENDPOINTS_SETTING}: ${(err as Error).message}`);
      }
    }
    for (const [name, endpoint] of Object.entries(own)) {
      if (!endpoint) continue;
      try {
        const url = new URL(endpoint);
        entries.push(parsePattern(`${url.protocol}//${url.host}`));
      } catch (err) {
        throw new Error(`${name}: ${(err as Error).message}`);
      }
    }
    return new EndpointAllowList(entries);
  }

  /** The entries, as written (own endpoints as scheme://host:port). */
  describe(): string[] {
    return this.patterns.map((p) => p.text);
  }

  /** Why `raw` may not be used, or null when it may. */
  refusal(raw: string): string | null {
    // Parsers disagree about what they strip; an endpoint has no business with any of it.
    if (hasControlOrSpace(raw))
      return `${displayUrl(raw)}: whitespace or control characters in an endpoint are not allowed`;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return `${displayUrl(raw)} is not a URL`;
    }
    if (!DEFAULT_PORTS[url.protocol])
      return `${displayUrl(raw)}: scheme "${url.protocol}" is not allowed (only http and https)`;
    // The authority as written: "user@" there is userinfo even when WHATWG reads it as empty.
    const authority = raw.replace(/^[a-zA-Z][a-zA-Z0-9+.-]*:[\\/]*/, '').split(/[/\\?#]/, 1)[0];
    if (url.username || url.password || authority.includes('@'))
      return `${displayUrl(raw)}: a user name or password in an endpoint is not allowed`;
    if (url.search || url.hash || /[?#]/.test(raw))
      return `${displayUrl(raw)}: a query or fragment in an endpoint is not allowed`;
    const host = normalizedHost(url);
    const port = effectivePort(url);
    const ok = this.patterns.some(
      (p) =>
        p.scheme === url.protocol &&
        p.port === port &&
        (p.wildcard ? host.endsWith(`.${p.host}`) && !isIpLiteral(host) : host === p.host),
    );
    if (ok) return null;
    const normalized = `${url.protocol}//${url.host}`;
    const spelled = raw.toLowerCase().startsWith(normalized.toLowerCase()) ? '' : ` (${normalized})`;
    return `${displayUrl(raw)}${spelled} is not an allowed endpoint (${ALLOWED_ENDPOINTS_SETTING})`;
  }

  /** Throws EndpointRefusedError naming `field` unless `raw` is allowed. */
  check(field: EndpointField, raw: string): void {
    const why = this.refusal(raw);
    if (why) throw new EndpointRefusedError(field, raw, why);
  }
}

/**
 * An AWS region becomes a host name label (`s3.<region>.amazonaws.com`), so
 * it must be one: letters, digits and hyphens. Throws EndpointRefusedError.
 */
export function checkRegion(region: string | undefined): void {
  if (region === undefined) return;
  if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(region))
    throw new EndpointRefusedError(
      'region',
      region,
      `${displayUrl(region)} is not a region name (letters, digits and hyphens)`,
    );
}

/** Every host-naming field of a job (its kind names them) against the list; throws EndpointRefusedError on the first refused one. */
export function checkJobEndpoints(job: JobConfig, allowed: EndpointAllowList): void {
  const { region, urls } = definitionOf(job).endpoints(job.config);
  checkRegion(region);
  for (const { field, url } of urls) allowed.check(field, url);
}

/** The same refusal as a non-retryable activity failure (the job fails with the reason). */
export function endpointFailure(err: EndpointRefusedError): ApplicationFailure {
  return ApplicationFailure.create({
    message: `refused before connecting: ${err.message}`,
    type: NON_RECOVERABLE,
    nonRetryable: true,
  });
}

/** For the worker: runs `fn`, turning an EndpointRefusedError into a non-retryable failure. */
export function refuseNonRetryably<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof EndpointRefusedError) throw endpointFailure(err);
    throw err;
  }
}

/** The list a worker's AWS settings carry, or (settings built by hand) AWS's own plus their endpoints. */
export function allowListOf(aws: {
  s3Endpoint?: string;
  sqsEndpoint?: string;
  allowedEndpoints?: EndpointAllowList;
}): EndpointAllowList {
  return (
    aws.allowedEndpoints ??
    EndpointAllowList.from(undefined, {
      AWS_ENDPOINT_URL_S3: aws.s3Endpoint,
      AWS_ENDPOINT_URL_SQS: aws.sqsEndpoint,
    })
  );
}
