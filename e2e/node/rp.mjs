// A relying party built on panva's openid-client, driving Latchkey the way an
// independent application would. A minimal cookie-keeping "browser" fills the
// hosted login and consent forms. Prints one JSON document on stdout.
//
// Environment: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, EMAIL, PASSWORD.
import * as client from 'openid-client';

const env = process.env;
for (const k of ['ISSUER', 'CLIENT_ID', 'CLIENT_SECRET', 'REDIRECT_URI', 'EMAIL', 'PASSWORD']) {
  if (!env[k]) throw new Error(`${k} is not set`);
}

const config = await client.discovery(new URL(env.ISSUER), env.CLIENT_ID, env.CLIENT_SECRET, undefined, {
  // The test server is plain http on localhost. Non-repudiation checks make
  // openid-client verify every ID token's signature against the JWKS (by
  // default it trusts what comes from the token endpoint).
  execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
});

const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: env.REDIRECT_URI,
  scope: 'openid email offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});

const cookies = new Map();

// visit follows redirects like a browser until a page, or the RP callback.
async function visit(url, init = {}) {
  for (let hops = 0; hops < 20; hops++) {
    const headers = new Headers(init.headers || {});
    if (cookies.size) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      cookies.set(pair.slice(0, i).trim(), pair.slice(i + 1).trim());
    }
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      const next = new URL(location, url);
      if (next.href.startsWith(env.REDIRECT_URI)) return { callback: next };
      url = next;
      init = {};
      continue;
    }
    return { url: new URL(url), status: res.status, html: await res.text() };
  }
  throw new Error('too many redirects');
}

const attr = (tag, name) => (tag.match(new RegExp(`${name}="([^"]*)"`)) || [])[1];
const unescape = (s) => s.replace(/&amp;/g, '&').replace(/&#43;/g, '+').replace(/&#39;/g, "'").replace(/&quot;/g, '"');

// submit posts the form holding <button name=N value=V>, with extra fields.
async function submit(page, name, value, extra = {}) {
  const forms = page.html.split('<form').slice(1).map((f) => '<form' + f.split('</form>')[0]);
  const form = forms.find((f) => f.includes(`name="${name}" value="${value}"`));
  if (!form) throw new Error(`no form with ${name}=${value} at ${page.url} (${page.status}):\n${page.html}`);
  const body = new URLSearchParams();
  for (const input of form.match(/<input[^>]*>/g) || []) {
    const n = attr(input, 'name');
    if (n) body.set(n, unescape(attr(input, 'value') || ''));
  }
  for (const [k, v] of Object.entries(extra)) body.set(k, v);
  body.set(name, value);
  const action = new URL(unescape(attr(form, 'action')), page.url);
  return visit(action, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

let step = await visit(authUrl);
step = await submit(step, 'method', 'password', { identifier: env.EMAIL, password: env.PASSWORD });
if (!step.callback) step = await submit(step, 'decision', 'allow');
if (!step.callback) throw new Error(`no callback after consent: ${step.url} ${step.status}`);

const tokens = await client.authorizationCodeGrant(config, step.callback, {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);

const alg = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()).alg;

process.stdout.write(JSON.stringify({
  alg: alg(tokens.id_token),
  refreshed_alg: alg(refreshed.id_token),
  claims,
  userinfo,
  refreshed: { rotated: refreshed.refresh_token !== tokens.refresh_token, claims: refreshed.claims() },
}) + '\n');
