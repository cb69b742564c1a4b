// Independent client for httpsig's interop test: signs requests with the
// npm package http-message-signatures (RFC 9421) and sends them to the
// Go test server. Prints one JSON line per case: {name, status, code}.
//
// Environment: TARGET (server base URL), KEYDIR (PEM private keys written
// by the Go test), HMAC_SECRET (base64).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { httpbis, createSigner } = require('http-message-signatures');

const target = process.env.TARGET;
const keydir = process.env.KEYDIR;
const secret = Buffer.from(process.env.HMAC_SECRET, 'base64');
const pem = (name) => crypto.createPrivateKey(fs.readFileSync(path.join(keydir, name)));

const signers = {
  hmac: createSigner(secret, 'hmac-sha256', 'npm-hmac'),
  ed25519: createSigner(pem('ed25519.pem'), 'ed25519', 'npm-ed25519'),
  p256: createSigner(pem('p256.pem'), 'ecdsa-p256-sha256', 'npm-p256'),
  p384: createSigner(pem('p384.pem'), 'ecdsa-p384-sha384', 'npm-p384'),
  pss: createSigner(pem('rsa.pem'), 'rsa-pss-sha512', 'npm-rsa-pss'),
  rsa15: createSigner(pem('rsa.pem'), 'rsa-v1_5-sha256', 'npm-rsa-v15'),
  // A key the gateway does not hold under this id: signed with the
  // ed25519 key but claiming the p256 key id.
  wrong: createSigner(pem('ed25519.pem'), 'ed25519', 'npm-p256'),
};

const digest = (body) => 'sha-256=:' + crypto.createHash('sha256').update(body).digest('base64') + ':';
let n = 0;
const nonce = () => crypto.randomBytes(12).toString('base64url') + (n++);

async function sign(signer, { method = 'GET', pathq = '/v1/orders?id=7', body, fields, params, paramValues = {}, headers = {} }) {
  const url = target + pathq;
  const h = { ...headers };
  if (body !== undefined) {
    h['content-type'] = 'application/json';
    h['content-digest'] = digest(body);
  }
  const signed = await httpbis.signMessage({
    key: signer,
    fields: fields || (body !== undefined
      ? ['@method', '@target-uri', 'content-type', 'content-digest']
      : ['@method', '@authority', '@path', '@query']),
    params: params || ['keyid', 'alg', 'created', 'expires', 'nonce'],
    paramValues: { nonce: nonce(), ...paramValues },
  }, { method, url, headers: h });
  return { url, init: { method, headers: signed.headers, body } };
}

async function send(name, req) {
  const res = await fetch(req.url, req.init);
  let code = '';
  const text = await res.text();
  try { code = JSON.parse(text).code || ''; } catch (_) { /* 200 bodies are not problems */ }
  console.log(JSON.stringify({ name, status: res.status, code }));
}

(async () => {
  await send('hmac-get', await sign(signers.hmac, {}));
  await send('ed25519-post', await sign(signers.ed25519, { method: 'POST', body: '{"order":42}' }));
  await send('p256-put', await sign(signers.p256, { method: 'PUT', pathq: '/v1/orders/42', body: '{"qty":2}' }));
  await send('p384-get', await sign(signers.p384, {}));
  await send('rsa-pss-get', await sign(signers.pss, {}));
  await send('rsa-v15-get', await sign(signers.rsa15, {}));
  await send('query-param', await sign(signers.hmac, {
    pathq: '/v1/search?q=caf%C3%A9%20au%20lait&page=2',
    fields: ['@method', '@authority', '@path', '@query-param;name="q"'],
  }));
  await send('no-alg-param', await sign(signers.ed25519, { params: ['keyid', 'created', 'nonce'] }));

  const once = await sign(signers.hmac, {});
  await send('replay-first', once);
  await send('replay-second', once);

  const tampered = await sign(signers.ed25519, { method: 'POST', body: '{"amount":1}' });
  tampered.init.body = '{"amount":1000}';
  await send('tampered-body', tampered);

  const tenMinAgo = new Date(Date.now() - 10 * 60 * 1000);
  await send('created-10-min-ago', await sign(signers.hmac, {
    params: ['keyid', 'alg', 'created', 'nonce'], paramValues: { created: tenMinAgo },
  }));
  await send('wrong-key', await sign(signers.wrong, { params: ['keyid', 'created', 'nonce'] }));
  await send('alg-mismatch', await sign(signers.wrong, {}));
  await send('unknown-keyid', await sign(createSigner(secret, 'hmac-sha256', 'nobody'), {}));
  await send('too-little-covered', await sign(signers.hmac, { fields: ['@method'] }));
})().catch((e) => { console.error(e && e.stack || e); process.exit(1); });
