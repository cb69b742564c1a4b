package jwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/credential/jwt/jose"
	"gatehouse/internal/reason"
)

// attackEnv is the verifier every attack case runs against: three issuers
// served from one real JWKS endpoint.
//   - idp:    RS256/PS256/ES256/EdDSA (the default list), audience "api".
//   - hs:     HS256 with a 32-byte secret and RS256 from the key set.
//   - strict: typ at+jwt, no leeway, client_id required.
type attackEnv struct {
	*env
	rsa1, rsaRS, ec1, ec384, ed1 *testKey
	secret                       []byte
}

const (
	issIdp    = "https://idp.example"
	issHS     = "https://hs.example"
	issStrict = "https://strict.example"
)

func newAttackEnv(t *testing.T) *attackEnv {
	a := &attackEnv{rsa1: newRSA(t, "rsa1"), ec1: newEC(t, "ec1", elliptic.P256()), ec384: newEC(t, "ec384", elliptic.P384()),
		ed1: newEd(t, "ed1"), secret: []byte("0123456789abcdef0123456789abcdef")}
	a.rsaRS = newRSA(t, "rsa-rs256").withAlg("RS256")
	a.env = newEnv(t, Options{MaxTokenBytes: 16 << 10}, a.rsa1, a.rsaRS, a.ec1, a.ec384, a.ed1)
	a.issuer(Issuer{Name: "idp", Issuer: issIdp, Audiences: []string{"api"}, MaxTokenBytes: 16 << 10}, true)
	a.issuer(Issuer{Name: "hs", Issuer: issHS, Audiences: []string{"api"}, HS256Secret: a.secret, Algorithms: []string{"HS256", "RS256"}}, true)
	a.issuer(Issuer{Name: "strict", Issuer: issStrict, Audiences: []string{"api"}, Typ: "at+jwt", Leeway: -1, RequiredClaims: []string{"client_id"}}, true)
	for _, n := range []string{"idp", "hs", "strict"} {
		a.b.bind(n, "sub", "alice")
	}
	return a
}

// flip changes one bit of a token's signature.
func flip(t testing.TB, tok string) string {
	i := strings.LastIndexByte(tok, '.')
	sig, err := b64.DecodeString(tok[i+1:])
	if err != nil || len(sig) == 0 {
		t.Fatalf("flip: %v", err)
	}
	sig[len(sig)/2] ^= 0x10
	return tok[:i+1] + b64.EncodeToString(sig)
}

// withSig replaces a token's signature segment.
func withSig(tok, sig string) string { return tok[:strings.LastIndexByte(tok, '.')+1] + sig }

// sshRSA renders an RSA public key in OpenSSH authorized_keys form.
func sshRSA(pub *rsa.PublicKey) string {
	var b []byte
	put := func(p []byte) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	mpint := func(n *big.Int) []byte {
		p := n.Bytes()
		if len(p) > 0 && p[0]&0x80 != 0 {
			p = append([]byte{0}, p...)
		}
		return p
	}
	put([]byte("ssh-rsa"))
	put(mpint(big.NewInt(int64(pub.E))))
	put(mpint(pub.N))
	return "ssh-rsa " + base64.StdEncoding.EncodeToString(b) + " gatehouse-test"
}

// TestAttackCases is auth-vectors.md §A.5, one row per attack (and per
// variant), each with the code it must be rejected with. "after" marks
// rejections that come after the signature verified: only those carry
// proof of possession.
func TestAttackCases(t *testing.T) {
	a := newAttackEnv(t)
	now := t0.Unix()
	ok := claims(issIdp, nil)
	rsaPub := &a.rsa1.priv.(*rsa.PrivateKey).PublicKey
	der, _ := x509.MarshalPKIXPublicKey(rsaPub)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	jwkJSON, _ := json.Marshal(a.rsa1.jwk)
	ecPriv := a.ec1.priv.(*ecdsa.PrivateKey)

	// An attacker's server for jku/x5u: it must never be contacted.
	var attackerHits atomic.Int64
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attackerHits.Add(1)
	}))
	defer attacker.Close()
	atk := newEC(t, "ec1", elliptic.P256()) // the attacker's key, claiming the real kid
	atkJWK, _ := json.Marshal(atk.jwk)
	certDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: issIdp},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour)}, &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: issIdp}},
		&atk.priv.(*ecdsa.PrivateKey).PublicKey, atk.priv)
	if err != nil {
		t.Fatal(err)
	}

	es := func(c string) string { return mint(t, hdr("ES256", "ec1"), c, "ES256", ecPriv) }
	hs := func(h, c string, key []byte) string { return mint(t, h, c, "HS256", key) }
	n := ecPriv.Curve.Params().N
	nBytes := make([]byte, 32)
	n.FillBytes(nBytes)
	nPlus1 := make([]byte, 32)
	new(big.Int).Add(n, big.NewInt(1)).FillBytes(nPlus1)
	validES := es(ok)
	rawSig, _ := b64.DecodeString(validES[strings.LastIndexByte(validES, '.')+1:])
	digest := sha256.Sum256([]byte(validES[:strings.LastIndexByte(validES, '.')]))
	derSig, _ := ecdsa.SignASN1(rand.Reader, ecPriv, digest[:])
	validHS := hs(hdr("HS256", ""), claims(issHS, nil), a.secret)
	hsSig, _ := b64.DecodeString(validHS[strings.LastIndexByte(validHS, '.')+1:])

	cases := []struct {
		desc   string
		tok    string
		want   string // "" means accepted
		detail string // substring of the detail
		after  bool   // rejected after the signature verified
	}{
		{desc: "baseline ES256 accepted", tok: validES},
		{desc: "baseline RS256 accepted", tok: mint(t, hdr("RS256", "rsa1"), ok, "RS256", a.rsa1.priv)},
		{desc: "baseline PS256 accepted", tok: mint(t, hdr("PS256", "rsa1"), ok, "PS256", a.rsa1.priv)},
		{desc: "baseline EdDSA accepted", tok: mint(t, hdr("EdDSA", "ed1"), ok, "EdDSA", a.ed1.priv)},
		{desc: "baseline Ed25519 (RFC 9864 name) accepted", tok: mint(t, hdr("Ed25519", "ed1"), ok, "Ed25519", a.ed1.priv)},
		{desc: "baseline HS256 accepted", tok: validHS},

		// 1. alg none and variants.
		{desc: "1 alg none: RFC 7519 §6.1 example", tok: "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.", want: jose.CodeAlgNotAllowed, detail: "unsigned"},
		{desc: "1 alg none: RFC 7515 A.1 payload re-encoded", tok: b64.EncodeToString([]byte(`{"alg":"none"}`)) + ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.", want: jose.CodeAlgNotAllowed},
		{desc: "1 alg none on a trusted issuer's claims", tok: mint(t, hdr("none", ""), ok, "", nil), want: jose.CodeAlgNotAllowed},
		{desc: "1 alg None", tok: mint(t, hdr("None", ""), ok, "", nil), want: jose.CodeAlgNotAllowed},
		{desc: "1 alg NONE", tok: mint(t, hdr("NONE", ""), ok, "", nil), want: jose.CodeAlgNotAllowed},
		{desc: "1 alg nOnE with a signature segment", tok: mint(t, hdr("nOnE", ""), ok, "", nil) + "AAAA", want: jose.CodeAlgNotAllowed},

		// 2. Missing / non-string alg.
		{desc: "2 empty header {}", tok: mint(t, `{}`, ok, "ES256", ecPriv), want: jose.CodeMalformed, detail: "no alg"},
		{desc: "2 alg null", tok: mint(t, `{"alg":null}`, ok, "ES256", ecPriv), want: jose.CodeMalformed, detail: "alg is null"},
		{desc: "2 alg [\"HS256\"]", tok: mint(t, `{"alg":["HS256"]}`, ok, "HS256", a.secret), want: jose.CodeMalformed, detail: "alg is an array"},

		// 3. HS/RS key confusion: HS256 MAC'd with the bytes of the public key.
		{desc: "3 HS256 with the PEM public key, RS-only issuer", tok: hs(hdr("HS256", "rsa1"), ok, pemBytes), want: jose.CodeAlgNotAllowed, detail: "not allowed for tokens of this issuer"},
		{desc: "3 HS256 with the DER public key, RS-only issuer", tok: hs(hdr("HS256", ""), ok, der), want: jose.CodeAlgNotAllowed},
		{desc: "3 HS256 with the JWK JSON, RS-only issuer", tok: hs(hdr("HS256", "rsa1"), ok, jwkJSON), want: jose.CodeAlgNotAllowed},
		{desc: "3 HS256 with the OpenSSH key text, RS-only issuer", tok: hs(hdr("HS256", ""), ok, []byte(sshRSA(rsaPub))), want: jose.CodeAlgNotAllowed},
		{desc: "3 HS256 naming the RSA kid, issuer allowing HS256 and RS256", tok: hs(hdr("HS256", "rsa1"), claims(issHS, nil), pemBytes), want: jose.CodeAlgNotAllowed, detail: "never uses a public key"},
		{desc: "3 HS256 with the PEM, no kid, issuer allowing HS256 and RS256", tok: hs(hdr("HS256", ""), claims(issHS, nil), pemBytes), want: jose.CodeSignatureInvalid},

		// 4. Alg/key-type mismatch.
		{desc: "4 ES256 header with an RSA kid", tok: mint(t, hdr("ES256", "rsa1"), ok, "ES256", ecPriv), want: jose.CodeAlgNotAllowed, detail: "needs EC P-256 key, but the key \"rsa1\" is RSA 2048"},
		{desc: "4 PS256 token against an RS256-only key", tok: mint(t, hdr("PS256", "rsa-rs256"), ok, "PS256", a.rsaRS.priv), want: jose.CodeAlgNotAllowed, detail: "published for RS256 only"},
		{desc: "4 ES256 signature made with a P-384 key", tok: mint(t, hdr("ES256", "ec1"), ok, "ES384", a.ec384.priv), want: jose.CodeSignatureInvalid, detail: "96"},
		{desc: "4 ES256 header naming a P-384 key", tok: mint(t, hdr("ES256", "ec384"), ok, "ES384", a.ec384.priv), want: jose.CodeAlgNotAllowed, detail: "EC P-384"},
		{desc: "4 EdDSA header naming an EC key", tok: mint(t, hdr("EdDSA", "ec1"), ok, "EdDSA", a.ed1.priv), want: jose.CodeAlgNotAllowed},
		{desc: "4 ES384 not in the allow-list", tok: mint(t, hdr("ES384", "ec384"), ok, "ES384", a.ec384.priv), want: jose.CodeAlgNotAllowed, detail: "allowed: RS256"},

		// 5. kid injection: exact-match lookup only.
		{desc: "5 kid path traversal, HS256 under an empty key, RS-only issuer", tok: hs(hdr("HS256", "../../../../../../dev/null"), ok, []byte{}), want: jose.CodeAlgNotAllowed},
		{desc: "5 kid path traversal, HS256 under an empty key, HS issuer", tok: hs(hdr("HS256", "../../../../../../dev/null"), claims(issHS, nil), []byte{}), want: jose.CodeSignatureInvalid},
		{desc: "5 kid path traversal, ES256", tok: mint(t, hdr("ES256", "../../../../../../dev/null"), ok, "ES256", ecPriv), want: jose.CodeUnknownKid},
		{desc: "5 kid SQL injection", tok: mint(t, `{"alg":"ES256","kid":"x' UNION SELECT 'secret' --"}`, ok, "ES256", ecPriv), want: jose.CodeUnknownKid},
		{desc: "5 kid with a NUL byte", tok: mint(t, `{"alg":"ES256","kid":"ec1\u0000"}`, ok, "ES256", ecPriv), want: jose.CodeUnknownKid, detail: `\x00`},
		{desc: "5 kid of 10 kB", tok: mint(t, hdr("ES256", strings.Repeat("k", 10000)), ok, "ES256", ecPriv), want: jose.CodeUnknownKid, detail: "10000 bytes"},
		{desc: "5 kid that is a URL", tok: mint(t, hdr("ES256", attacker.URL+"/key.json"), ok, "ES256", ecPriv), want: jose.CodeUnknownKid},
		{desc: "5 kid differing in case", tok: mint(t, hdr("ES256", "EC1"), ok, "ES256", ecPriv), want: jose.CodeUnknownKid},

		// 6. jku / x5u / jwk / x5c are never used to find a key.
		{desc: "6 jku to the attacker's key set, attacker's kid", tok: mint(t, `{"alg":"ES256","kid":"atk","jku":"`+attacker.URL+`/jwks"}`, ok, "ES256", atk.priv), want: jose.CodeUnknownKid},
		{desc: "6 x5u to the attacker", tok: mint(t, `{"alg":"ES256","kid":"atk","x5u":"`+attacker.URL+`/cert"}`, ok, "ES256", atk.priv), want: jose.CodeUnknownKid},
		{desc: "6 embedded jwk (CVE-2018-0114), real kid", tok: mint(t, `{"alg":"ES256","kid":"ec1","jwk":`+string(atkJWK)+`}`, ok, "ES256", atk.priv), want: jose.CodeSignatureInvalid},
		{desc: "6 embedded jwk, no kid: the issuer's only P-256 key is used", tok: mint(t, `{"alg":"ES256","jwk":`+string(atkJWK)+`}`, ok, "ES256", atk.priv), want: jose.CodeSignatureInvalid, detail: `key "ec1"`},
		{desc: "6 no kid and two RSA keys: the token must name its key", tok: mint(t, hdr("RS256", ""), ok, "RS256", a.rsa1.priv), want: jose.CodeUnknownKid, detail: "has 2 keys for RS256"},
		{desc: "6 self-signed x5c, real kid", tok: mint(t, `{"alg":"ES256","kid":"ec1","x5c":["`+base64.StdEncoding.EncodeToString(certDER)+`"]}`, ok, "ES256", atk.priv), want: jose.CodeSignatureInvalid},

		// 7. crit (RFC 7515 §4.1.11).
		{desc: "7 crit unknown extension present", tok: mint(t, `{"alg":"ES256","kid":"ec1","crit":["x-unknown"],"x-unknown":1}`, ok, "ES256", ecPriv), want: jose.CodeMalformed, detail: "x-unknown"},
		{desc: "7 crit empty", tok: mint(t, `{"alg":"ES256","kid":"ec1","crit":[]}`, ok, "ES256", ecPriv), want: jose.CodeMalformed, detail: "empty list"},
		{desc: "7 crit lists exp", tok: mint(t, `{"alg":"ES256","kid":"ec1","crit":["exp"],"exp":1}`, ok, "ES256", ecPriv), want: jose.CodeMalformed, detail: "\"exp\""},
		{desc: "7 crit b64 with b64 false", tok: mint(t, `{"alg":"ES256","kid":"ec1","crit":["b64"],"b64":false}`, ok, "ES256", ecPriv), want: jose.CodeMalformed, detail: "RFC 7797"},

		// 8. Psychic signatures (CVE-2022-21449).
		{desc: "8 ES256 signature of 64 zero bytes", tok: withSig(validES, strings.Repeat("A", 86)), want: jose.CodeSignatureInvalid, detail: "psychic"},
		{desc: "8 DER r=s=0 (MAYCAQACAQA)", tok: withSig(validES, "MAYCAQACAQA"), want: jose.CodeSignatureInvalid},
		{desc: "8 OWASP WSTG token as published (no iss)", tok: "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJhZG1pbiI6InRydWUifQ.MAYCAQACAQA", want: jose.CodeIssuerUnknown},
		{desc: "8 r = s = n", tok: withSig(validES, b64.EncodeToString(append(append([]byte{}, nBytes...), nBytes...))), want: jose.CodeSignatureInvalid, detail: "psychic"},
		{desc: "8 r = n+1 with the real s", tok: withSig(validES, b64.EncodeToString(append(append([]byte{}, nPlus1...), rawSig[32:]...))), want: jose.CodeSignatureInvalid},

		// 9. Wrong ECDSA encoding.
		{desc: "9 valid DER signature instead of r‖s", tok: withSig(validES, b64.EncodeToString(derSig)), want: jose.CodeSignatureInvalid, detail: "DER"},
		{desc: "9 63-byte signature", tok: withSig(validES, b64.EncodeToString(rawSig[:63])), want: jose.CodeSignatureInvalid, detail: "63"},
		{desc: "9 65-byte signature", tok: withSig(validES, b64.EncodeToString(append(append([]byte{}, rawSig...), 0))), want: jose.CodeSignatureInvalid, detail: "65"},

		// 10. Empty / truncated signature, non-base64url.
		{desc: "10 header.payload. with HS256", tok: withSig(validHS, ""), want: jose.CodeSignatureInvalid, detail: "empty"},
		{desc: "10 HMAC truncated to 1 byte", tok: withSig(validHS, b64.EncodeToString(hsSig[:1])), want: jose.CodeSignatureInvalid, detail: "truncated"},
		{desc: "10 HMAC truncated to 16 bytes", tok: withSig(validHS, b64.EncodeToString(hsSig[:16])), want: jose.CodeSignatureInvalid, detail: "truncated"},
		{desc: "10 HMAC with one bit flipped", tok: flip(t, validHS), want: jose.CodeSignatureInvalid},
		{desc: "10 signature with = padding", tok: withSig(validHS, base64.URLEncoding.EncodeToString(hsSig)), want: jose.CodeMalformed, detail: "padding"},
		{desc: "10 signature in standard base64", tok: withSig(validHS, strings.NewReplacer("-", "+", "_", "/").Replace(b64.EncodeToString(hsSig))+"+/"), want: jose.CodeMalformed, detail: "standard base64"},

		// 11. exp/nbf/iat edges (leeway 60 s on idp, none on strict).
		{desc: "11 exp == now, no leeway", tok: mint(t, `{"alg":"ES256","kid":"ec1","typ":"at+jwt"}`, claims(issStrict, map[string]any{"exp": now, "client_id": "c"}), "ES256", ecPriv), want: jose.CodeExpired, after: true, detail: "0s (0 s) before the gateway clock"},
		{desc: "11 exp == now + 1, no leeway", tok: mint(t, `{"alg":"ES256","kid":"ec1","typ":"at+jwt"}`, claims(issStrict, map[string]any{"exp": now + 1, "client_id": "c"}), "ES256", ecPriv)},
		{desc: "11 exp == now - leeway", tok: es(claims(issIdp, map[string]any{"exp": now - 60})), want: jose.CodeExpired, after: true, detail: "leeway 60 s"},
		{desc: "11 exp == now - leeway - 1", tok: es(claims(issIdp, map[string]any{"exp": now - 61})), want: jose.CodeExpired, after: true, detail: "1m1s (61 s) before the gateway clock 2026-03-01T12:00:00Z"},
		{desc: "11 exp == now - leeway + 1", tok: es(claims(issIdp, map[string]any{"exp": now - 59}))},
		{desc: "11 nbf == now + leeway + 1", tok: es(claims(issIdp, map[string]any{"nbf": now + 61})), want: jose.CodeNotYetValid, after: true, detail: "nbf 2026-03-01T12:01:01Z"},
		{desc: "11 nbf == now + leeway", tok: es(claims(issIdp, map[string]any{"nbf": now + 60}))},
		{desc: "11 exp as a string", tok: es(claims(issIdp, map[string]any{"exp": "1300819380"})), want: jose.CodeMalformed, after: true, detail: "in quotes"},
		{desc: "11 exp as a float (valid NumericDate)", tok: es(claims(issIdp, map[string]any{"exp": float64(now) + 3600.5}))},
		{desc: "11 exp 1e300", tok: es(strings.Replace(claims(issIdp, map[string]any{"exp": 7}), `"exp":7`, `"exp":1e300`, 1)), want: jose.CodeMalformed, after: true, detail: "1e300"},
		{desc: "11 exp negative", tok: es(claims(issIdp, map[string]any{"exp": -1})), want: jose.CodeExpired, after: true},
		{desc: "11 exp missing", tok: es(claims(issIdp, map[string]any{"exp": nil})), want: jose.CodeClaimMissing, after: true, detail: "no exp"},
		{desc: "11 iat in the future beyond the leeway", tok: es(claims(issIdp, map[string]any{"iat": now + 3600})), want: jose.CodeNotYetValid, after: true, detail: "issued in the future"},
		{desc: "11 expired AND bad signature: the signature error wins", tok: flip(t, es(claims(issIdp, map[string]any{"exp": now - 3600}))), want: jose.CodeSignatureInvalid},

		// 12. aud / iss.
		{desc: "12 aud empty array (CVE-2020-26160)", tok: es(claims(issIdp, map[string]any{"aud": []string{}})), want: jose.CodeAudienceMismatch, after: true, detail: "empty list"},
		{desc: "12 aud another API", tok: es(claims(issIdp, map[string]any{"aud": "x"})), want: jose.CodeAudienceMismatch, after: true, detail: `aud "x"; this API expects api`},
		{desc: "12 aud list without ours", tok: es(claims(issIdp, map[string]any{"aud": []string{"x", "y"}})), want: jose.CodeAudienceMismatch, after: true},
		{desc: "12 aud list with ours", tok: es(claims(issIdp, map[string]any{"aud": []string{"x", "api"}}))},
		{desc: "12 aud absent", tok: es(claims(issIdp, map[string]any{"aud": nil})), want: jose.CodeAudienceMismatch, after: true, detail: "no aud"},
		{desc: "12 aud a number", tok: es(claims(issIdp, map[string]any{"aud": 7})), want: jose.CodeMalformed, after: true},
		{desc: "12 iss with a trailing slash", tok: es(claims(issIdp+"/", nil)), want: jose.CodeIssuerUnknown},
		{desc: "12 iss unknown", tok: es(claims("https://evil.example", nil)), want: jose.CodeIssuerUnknown},
		{desc: "12 iss absent", tok: es(claims(issIdp, map[string]any{"iss": nil})), want: jose.CodeIssuerUnknown, detail: "no iss"},
		{desc: "12 iss a number", tok: es(claims(issIdp, map[string]any{"iss": 7})), want: jose.CodeMalformed},

		// 13. typ confusion (strict requires at+jwt).
		{desc: "13 ID token (typ JWT) as an access token", tok: mint(t, `{"alg":"ES256","kid":"ec1","typ":"JWT"}`, claims(issStrict, map[string]any{"client_id": "c"}), "ES256", ecPriv), want: jose.CodeTypeMismatch, after: true, detail: "requires at+jwt"},
		{desc: "13 logout token typ", tok: mint(t, `{"alg":"ES256","kid":"ec1","typ":"logout+jwt"}`, claims(issStrict, map[string]any{"client_id": "c"}), "ES256", ecPriv), want: jose.CodeTypeMismatch, after: true},
		{desc: "13 no typ", tok: mint(t, hdr("ES256", "ec1"), claims(issStrict, map[string]any{"client_id": "c"}), "ES256", ecPriv), want: jose.CodeTypeMismatch, after: true, detail: "no typ"},
		{desc: "13 typ application/AT+JWT accepted", tok: mint(t, `{"alg":"ES256","kid":"ec1","typ":"application/AT+JWT"}`, claims(issStrict, map[string]any{"client_id": "c"}), "ES256", ecPriv)},
		{desc: "13 required claim missing", tok: mint(t, `{"alg":"ES256","kid":"ec1","typ":"at+jwt"}`, claims(issStrict, nil), "ES256", ecPriv), want: jose.CodeClaimMissing, after: true, detail: `"client_id"`},

		// 14. Duplicate members.
		{desc: "14 header alg twice (RS256 then none)", tok: mint(t, `{"alg":"RS256","alg":"none"}`, ok, "RS256", a.rsa1.priv), want: jose.CodeMalformed, detail: `duplicate member "alg"`},
		{desc: "14 header alg twice (none then ES256), validly signed", tok: mint(t, `{"alg":"none","kid":"ec1","alg":"ES256"}`, ok, "ES256", ecPriv), want: jose.CodeMalformed, detail: "duplicate"},
		{desc: "14 payload sub twice, validly signed", tok: es(strings.Replace(ok, `"sub":"alice"`, `"sub":"admin","sub":"alice"`, 1)), want: jose.CodeMalformed, detail: `duplicate member "sub"`},
		{desc: "14 payload iss twice through an escape", tok: es(strings.Replace(ok, `"sub":"alice"`, `"sub":"alice","\u0069ss":"x"`, 1)), want: jose.CodeMalformed, detail: `duplicate member "iss"`},

		// 15. Parser DoS / polyglots.
		{desc: "15 1 MB of dots", tok: strings.Repeat(".", 1<<20), want: jose.CodeMalformed, detail: "1048576 bytes long"},
		{desc: "15 four segments", tok: validES + ".AAAA", want: jose.CodeMalformed, detail: "4"},
		{desc: "15 JSON serialization", tok: `{"payload":"` + b64.EncodeToString([]byte(ok)) + `","signatures":[{"protected":"eyJhbGciOiJFUzI1NiJ9","signature":"AAAA"}]}`, want: jose.CodeMalformed, detail: "compact form"},
		{desc: "15 compact with a JSON-serialization payload mixed in", tok: validES[:strings.IndexByte(validES, '.')] + "." + b64.EncodeToString([]byte(`{"payload":"x"}`)) + validES[strings.LastIndexByte(validES, '.'):], want: jose.CodeIssuerUnknown},
		{desc: "15 deeply nested claims, validly signed", tok: es(strings.Replace(ok, `"sub":"alice"`, `"sub":"alice","x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100), 1)), want: jose.CodeMalformed, detail: "nested deeper"},
		{desc: "15 token over the limit", tok: es(claims(issIdp, map[string]any{"pad": strings.Repeat("p", 17000)})), want: jose.CodeMalformed, detail: "limit is 16384"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			id, r, tr := a.verify(c.tok)
			if got := code(r); got != c.want {
				t.Fatalf("code %q, want %q\n%v\ntrace:\n%s", got, c.want, r, steps(tr))
			}
			if c.want == "" {
				if id.Consumer != a.b.consumer || id.CredentialID == "" {
					t.Fatalf("accepted without identity: %+v", id)
				}
				return
			}
			if !strings.Contains(r.Detail, c.detail) {
				t.Errorf("detail %q does not contain %q", r.Detail, c.detail)
			}
			if r.Possession != c.after {
				t.Errorf("possession %v, want %v", r.Possession, c.after)
			}
			// The caller is told the code it will see; nothing masked.
			if v := r.View(false); v.Code != c.want || v.Status != 401 {
				t.Errorf("caller sees %s %d", v.Code, v.Status)
			}
			sig := c.tok[strings.LastIndexByte(c.tok, '.')+1:]
			for _, s := range tr.Steps() {
				if len(sig) > 16 && strings.Contains(s.Detail, sig) || len(c.tok) > 16 && strings.Contains(s.Detail, c.tok) {
					t.Errorf("trace step %s quotes the token", s.Check)
				}
			}
		})
	}
	if n := attackerHits.Load(); n != 0 {
		t.Errorf("the attacker's jku/x5u server was contacted %d times", n)
	}
	// Trailing slash: the caller learns only "not trusted"; the operator
	// learns why.
	_, r, _ := a.verify(es(claims(issIdp+"/", nil)))
	if !strings.Contains(r.Debug, "trailing slash") || strings.Contains(r.Detail, "slash") {
		t.Errorf("trailing slash: detail %q debug %q", r.Detail, r.Debug)
	}
	if r.View(false).Code != jose.CodeIssuerUnknown {
		t.Errorf("view %s", r.View(false).Code)
	}
}

// Every jwt.* code the verifier produces is catalogued, with its status.
func TestCodesCatalogued(t *testing.T) {
	for _, c := range []string{jose.CodeMalformed, jose.CodeAlgNotAllowed, jose.CodeUnknownKid, jose.CodeSignatureInvalid,
		jose.CodeIssuerUnknown, jose.CodeAudienceMismatch, jose.CodeClaimMissing, jose.CodeTypeMismatch, jose.CodeExpired,
		jose.CodeNotYetValid, IdentityUnmapped, reason.AuthBackendUnavailable} {
		if _, ok := reason.Lookup(c); !ok {
			t.Errorf("%s is not in the reason catalogue", c)
		}
	}
}
