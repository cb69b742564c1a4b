// mint.mjs: mints JWTs with the npm "jose" library, an implementation
// independent of Gatehouse, for internal/credential/jwt's interop test.
//
// Usage: node mint.mjs '<json request>'
// Request: {"iss","aud","sub","iat","exp","typ","algs":["RS256",…],"generations":2}
// Output (stdout, JSON): {"jose": "<version>", "keys": [{"alg","gen","kid","jwk","token"}]}
// For each alg and generation it generates a fresh key pair, exports the
// public key as a JWK (with kid and alg) and signs one token with it.
import * as jose from 'jose';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const req = JSON.parse(process.argv[2]);
const out = { keys: [] };
try {
  const require = createRequire(import.meta.url);
  out.jose = JSON.parse(readFileSync(require.resolve('jose/package.json'), 'utf8')).version;
} catch {
  out.jose = 'unknown';
}

for (const alg of req.algs) {
  for (let gen = 0; gen < (req.generations ?? 1); gen++) {
    const opts = { extractable: true };
    if (alg === 'EdDSA') opts.crv = 'Ed25519';
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, opts);
    const kid = `${alg}-gen${gen}`;
    const jwk = { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' };
    const token = await new jose.SignJWT({ scope: 'orders:read', client_id: 'npm-client' })
      .setProtectedHeader({ alg, kid, typ: req.typ })
      .setIssuer(req.iss)
      .setAudience(req.aud)
      .setSubject(req.sub)
      .setIssuedAt(req.iat)
      .setExpirationTime(req.exp)
      .setJti(`${kid}-${Math.random().toString(36).slice(2)}`)
      .sign(privateKey);
    out.keys.push({ alg, gen, kid, jwk, token });
  }
}
process.stdout.write(JSON.stringify(out));
