package httpsig

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
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
