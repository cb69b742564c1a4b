package httpsig

import (
	"bufio"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// rewrapPSS encodes an RSA public key as an SPKI whose algorithm is
// id-RSASSA-PSS (no parameters), the PSS-restricted form.
func rewrapPSS(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	type alg struct{ OID asn1.ObjectIdentifier }
	type spki struct {
		Alg alg
		Key asn1.BitString
	}
	pkcs1 := x509.MarshalPKCS1PublicKey(pub.(*rsa.PublicKey))
	der, err := asn1.Marshal(spki{Alg: alg{OID: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}},
		Key: asn1.BitString{Bytes: pkcs1, BitLength: 8 * len(pkcs1)}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// hmacSign signs r with secret over the inner list given as text (e.g.
// `("@method" "@authority");created=1;keyid="k"`) under label, and sets
// Signature-Input and Signature. mutate, if set, changes the base before
// signing (to model signer bugs).
func hmacSign(t testing.TB, r *http.Request, secret []byte, label, inner string, mutate func([]byte) []byte) {
	t.Helper()
	sigs, err := ParseFields(label+"="+inner, label+"=:AAAA:")
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := sigs.Select(label)
	if err != nil {
		t.Fatal(err)
	}
	msg := RequestMessage(r, "")
	base, err := in.AppendBase(nil, &msg)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		base = mutate(base)
	}
	m := hmac.New(sha256.New, secret)
	m.Write(base)
	r.Header.Set("Signature-Input", label+"="+inner)
	r.Header.Set("Signature", label+"=:"+base64.StdEncoding.EncodeToString(m.Sum(nil))+":")
}

// newServerRequest builds a request as the server would parse it.
func newServerRequest(t testing.TB, method, target string, body string, headers ...string) *http.Request {
	t.Helper()
	raw := method + " " + target + " HTTP/1.1\r\nHost: api.example.com\r\n"
	for _, h := range headers {
		raw += h + "\r\n"
	}
	if body != "" {
		raw += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n"
	}
	raw += "\r\n" + body
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sha256Digest(body string) string {
	s := sha256.Sum256([]byte(body))
	return "sha-256=:" + base64.StdEncoding.EncodeToString(s[:]) + ":"
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }

type atomicCounter struct{ n atomic.Uint64 }

func (c *atomicCounter) next() uint64 { return c.n.Add(1) }

type bodyReader struct{ *strings.Reader }

func (bodyReader) Close() error { return nil }

func nopBody(s string) io.ReadCloser { return bodyReader{strings.NewReader(s)} }
