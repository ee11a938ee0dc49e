// AWS Signature Version 4 for the harness's raw requests (fetch, node:http).
//
// The compatibility tests sign with the real AWS SDKs; this small signer is
// for requests the tests build by hand, and is a second, independent
// implementation checked against berthd's verifier on every call. It is
// synchronous so that callers returning a request handle at once can use it.

import { createHash, createHmac } from 'node:crypto';

export const sha256 = (data) => createHash('sha256').update(data).digest('hex');
export const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

// AWS's UriEncode: everything but unreserved characters as %XX; '/' kept
// in paths.
export function uriEncode(s, keepSlash) {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

function canonicalQuery(query) {
  if (!query) return '';
  const pairs = query.split('&').filter(Boolean).map((p) => {
    const i = p.indexOf('=');
    const k = decodeURIComponent(i < 0 ? p : p.slice(0, i));
    const v = i < 0 ? '' : decodeURIComponent(p.slice(i + 1).replace(/\+/g, '%20'));
    return [uriEncode(k, false), uriEncode(v, false)];
  });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

const UNSIGNED = new Set(['authorization', 'user-agent', 'connection', 'content-length', 'expect']);

/** The service a request to berthd signs for, from its x-amz-target. */
export function serviceOf(headers) {
  const target = Object.entries(headers).find(([k]) => k.toLowerCase() === 'x-amz-target')?.[1] ?? '';
  if (target.startsWith('AnyScaleFrontendService.')) return 'application-autoscaling';
  if (target.startsWith('GraniteServiceVersion20100801.')) return 'monitoring';
  return 'sagemaker';
}

/**
 * Signs a request: returns a new headers object with host, x-amz-date and
 * authorization added.  url: the full URL (its path as sent, already
 * percent-encoded); body: string or Buffer (or null).  Options: region,
 * service (default from x-amz-target), date (a Date, for skew tests).
 */
export function signRequest({ method, url, headers = {}, body = null, credentials,
  region = 'us-east-1', service, date = new Date() }) {
  const u = new URL(url);
  const amzDate = date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const out = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = String(v);
  out.host = u.host;
  out['x-amz-date'] = amzDate;
  const names = Object.keys(out).filter((k) => !UNSIGNED.has(k)).sort();
  const canonicalHeaders = names.map((k) => `${k}:${out[k].trim().replace(/\s+/g, ' ')}\n`).join('');
  const signedHeaders = names.join(';');
  const svc = service ?? serviceOf(headers);
  const canonical = [method, uriEncode(u.pathname, true), canonicalQuery(u.search.slice(1)),
    canonicalHeaders, signedHeaders, out['x-amz-content-sha256'] ?? sha256(body ?? '')].join('\n');
  const scope = `${day}/${region}/${svc}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonical)].join('\n');
  let key = hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [region, svc, 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(toSign).digest('hex');
  out.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return out;
}

/** Reads [profile] of an AWS shared-credentials file. */
export function readCredentials(text, profile = 'default') {
  let inProfile = false;
  const found = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) { inProfile = line.slice(1, line.indexOf(']')).trim() === profile; continue; }
    const i = line.indexOf('=');
    if (inProfile && i > 0) found[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  if (!found.aws_access_key_id || !found.aws_secret_access_key) return null;
  return { accessKeyId: found.aws_access_key_id, secretAccessKey: found.aws_secret_access_key };
}
