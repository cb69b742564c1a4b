// Verifies X-Gatehouse-Identity tokens the way an upstream would, with the
// npm jose library: createRemoteJWKSet on the gateway's JWKS URL and
// jwtVerify with the expected issuer and audience. Input (environment):
// JWKS_URL, and CASES, a JSON array of {name, token, issuer, audience,
// now} (now in unix seconds: the gateway under test runs on a fake clock).
// Output: a JSON array of {name, ok, kid, alg, payload, code, message}.
const { createRemoteJWKSet, jwtVerify } = require('jose');

async function main() {
  const jwks = createRemoteJWKSet(new URL(process.env.JWKS_URL));
  const out = [];
  for (const c of JSON.parse(process.env.CASES)) {
    try {
      const { payload, protectedHeader } = await jwtVerify(c.token, jwks, {
        issuer: c.issuer,
        audience: c.audience,
        algorithms: ['EdDSA'],
        currentDate: new Date(c.now * 1000),
        requiredClaims: ['iat', 'nbf', 'exp', 'sub', 'jti'],
      });
      out.push({ name: c.name, ok: true, kid: protectedHeader.kid, alg: protectedHeader.alg, payload });
    } catch (e) {
      out.push({ name: c.name, ok: false, code: e.code || e.name, message: e.message });
    }
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
