import { BlockList, isIP } from 'node:net';
import type { RequestRecord } from './request-record.js';

/**
 * Trusted proxies (`--forwarded-allow-ips`), the way uvicorn and gunicorn do
 * it: when the peer is one of them, the client's address and scheme come from
 * `Forwarded` (RFC 7239) or `X-Forwarded-For` / `X-Forwarded-Proto`. The
 * client is the right-most address that is not itself a trusted proxy, so a
 * client cannot spoof its address by sending the header itself: whatever it
 * puts there is to the left of what the trusted proxy appended.
 */
export class TrustedProxies {
  private readonly all: boolean;
  private readonly list = new BlockList();

  constructor(spec: string) {
    const entries = spec
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    this.all = entries.includes('*');
    for (const entry of entries) {
      if (entry === '*') continue;
      const [address, bits] = entry.split('/') as [string, string | undefined];
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(address, family);
      else this.list.addSubnet(address, Number(bits), family);
    }
  }

  trusts(address: string): boolean {
    if (this.all) return true;
    if (address === '') return false;
    return this.list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }

  /** Set the record's client address and scheme from the proxy's headers. */
  apply(rec: RequestRecord): void {
    const headers = rec.req.headers;
    const forwarded = headers.forwarded;
    let hops: Array<{ for?: string; proto?: string }> | undefined;
    if (typeof forwarded === 'string') {
      hops = parseForwarded(forwarded);
    } else {
      const xff = headers['x-forwarded-for'];
      if (xff !== undefined) {
        const list = (Array.isArray(xff) ? xff.join(',') : xff).split(',').map((s) => s.trim());
        const xfp = headers['x-forwarded-proto'];
        const protos = xfp === undefined ? [] : (Array.isArray(xfp) ? xfp.join(',') : xfp).split(',').map((s) => s.trim());
        hops = list.map((f, i) => ({ for: f, proto: protos.length === list.length ? protos[i] : protos[protos.length - 1] }));
      } else {
        const xfp = headers['x-forwarded-proto'];
        if (typeof xfp === 'string') setScheme(rec, xfp.split(',').pop()!.trim());
        return;
      }
    }
    // Right to left: skip hops that are trusted proxies themselves.
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      const address = hop.for === undefined ? undefined : normaliseNode(hop.for);
      if (address === undefined) continue;
      if (i > 0 && this.trusts(address)) continue;
      rec.clientAddr = address;
      if (hop.proto) setScheme(rec, hop.proto);
      return;
    }
  }
}

function setScheme(rec: RequestRecord, proto: string): void {
  const p = proto.toLowerCase();
  if (p === 'http' || p === 'https' || p === 'ws' || p === 'wss') rec.scheme = p;
}

/** `Forwarded: for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"` → hops. */
function parseForwarded(value: string): Array<{ for?: string; proto?: string }> {
  return value.split(',').map((element) => {
    const hop: { for?: string; proto?: string } = {};
    for (const pair of element.split(';')) {
      const eq = pair.indexOf('=');
      if (eq === -1) continue;
      const key = pair.slice(0, eq).trim().toLowerCase();
      let v = pair.slice(eq + 1).trim();
      if (v.startsWith('"') && v.endsWith('"') && v.length >= 2) v = v.slice(1, -1);
      if (key === 'for') hop.for = v;
      else if (key === 'proto') hop.proto = v;
    }
    return hop;
  });
}

/** A node (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`, `::1`) → its IP, or undefined for obfuscated/unknown ones. */
function normaliseNode(node: string): string | undefined {
  let v = node.trim();
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    v = end === -1 ? v.slice(1) : v.slice(1, end);
  } else if (v.indexOf(':') !== -1 && v.indexOf(':') === v.lastIndexOf(':')) {
    v = v.slice(0, v.indexOf(':'));
  }
  if (v.startsWith('::ffff:') && isIP(v.slice(7)) === 4) v = v.slice(7);
  return isIP(v) ? v : undefined;
}

/** Check a `--forwarded-allow-ips` value; the reason it is wrong, or undefined. */
export function forwardedAllowIpsError(spec: string): string | undefined {
  for (const entry of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (entry === '*') continue;
    const [address, bits, extra] = entry.split('/');
    const family = isIP(address ?? '');
    if (family === 0 || extra !== undefined) return `"${entry}" is not an IP address or CIDR`;
    if (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128))) return `"${entry}" has a bad prefix length`;
  }
  return undefined;
}
