package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
)

// credentialItem is a credential as the admin API shows it (never a
// secret or password hash), with its derived status.
type credentialItem struct {
	domain.Credential
	Status    string `json:"status"`
	HasSecret bool   `json:"has_secret"`
}

// createdCredential may carry a generated HMAC secret, shown once.
type createdCredential struct {
	credentialItem
	Secret string `json:"secret"`
}

// maxSecretFile bounds what a --…-file flag reads (a certificate chain or
// a JWK fits many times over).
const maxSecretFile = 64 << 10

const secretShownOnce = "This secret is shown once — store it now. Gatehouse keeps it encrypted and cannot show it again."

// readFileArg reads a file, or stdin for "-". what names it in errors.
func (a *app) readFileArg(path, what string) ([]byte, error) {
	var r io.Reader
	src := path
	if path == "-" {
		r, src = a.io.In, "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading the %s: %w", what, err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading the %s from %s: %w", what, src, err)
	}
	if len(b) > maxSecretFile {
		return nil, fmt.Errorf("%s holds more than %d bytes: is it really the %s?", src, maxSecretFile, what)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%s is empty: put the %s in it", src, what)
	}
	return b, nil
}

// readSecretLine reads a one-line secret (password, shared secret) from a
// file or stdin: one trailing newline is removed and nothing else, since
// spaces may belong to the secret.
func (a *app) readSecretLine(path, what string) (string, error) {
	b, err := a.readFileArg(path, what)
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if strings.ContainsAny(s, "\r\n") {
		return "", fmt.Errorf("the %s file holds more than one line: put exactly the %s in it", what, what)
	}
	return s, nil
}

// certFingerprint reads a PEM certificate and returns the lowercase hex
// SHA-256 of its DER bytes (what mtls credentials bind).
func certFingerprint(pemBytes []byte) (string, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("--cert-file holds no PEM CERTIFICATE block")
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

func (a *app) credentialCmd() *cobra.Command {
	var scopes, ipAllow []string
	var expires string
	var consumer, typ, issuer, subject, claim, value, keyID, algorithm, publicKeyFile, username, passwordFile, fingerprint, certFile string
	var create *cobra.Command
	create = &cobra.Command{
		Use:   "create --consumer C --type jwt_binding|hmac|mtls|basic [type flags]",
		Short: "Create a credential other than an API key (a generated HMAC secret is printed once)",
		Long: "Create a credential for a consumer:\n" +
			"  jwt_binding  --issuer I (--subject SUB | --claim C --value V): tokens of that issuer with that claim are the consumer\n" +
			"  hmac         --key-id K [--public-key-file F] [--algorithm A]: an RFC 9421 key; without a public key the\n" +
			"               gateway generates a 32-byte secret, printed once (base64)\n" +
			"  mtls         --fingerprint SHA256 | --cert-file F | --subject DN: a client certificate\n" +
			"  basic        --username U, password from --password-file F, or stdin when the flag is absent\n\n" +
			"Passwords and keys are never taken from the command line: arguments show in ps and shell history.",
		Example: "  gatehouse credential create --consumer acme/shop --type hmac --key-id shop-2026\n" +
			"  gatehouse credential create --consumer acme/shop --type jwt_binding --issuer okta --subject 00u1abcd\n" +
			"  gatehouse credential create --consumer acme/shop --type mtls --cert-file client.pem\n" +
			"  pass show shop/basic | gatehouse credential create --consumer acme/shop --type basic --username shop",
		RunE: a.run(spec{required: []string{"consumer", "type"}, extraArgs: "unexpected argument: passwords and keys are read from files or stdin, never arguments " +
			"(they leak into ps and shell history); see --help"}, func(ctx context.Context, c *client, _ []string) error {
			body := map[string]any{"consumer": consumer, "type": typ}
			if create.Flags().Changed("scopes") {
				body["scopes"] = nonNil(scopes)
			}
			if len(ipAllow) > 0 {
				body["ip_allow"] = ipAllow
			}
			if expires != "" {
				k, v, err := expiry(expires)
				if err != nil {
					return err
				}
				body[k] = v
			}
			set := func(k, v string) {
				if v != "" {
					body[k] = v
				}
			}
			set("issuer", issuer)
			set("subject", subject)
			set("claim", claim)
			set("value", value)
			set("key_id", keyID)
			set("algorithm", algorithm)
			set("username", username)
			set("fingerprint_sha256", fingerprint)
			if publicKeyFile != "" {
				b, err := a.readFileArg(publicKeyFile, "public key")
				if err != nil {
					return err
				}
				body["public_key"] = string(b)
			}
			if certFile != "" {
				if fingerprint != "" {
					return errors.New("give --fingerprint or --cert-file, not both")
				}
				b, err := a.readFileArg(certFile, "certificate")
				if err != nil {
					return err
				}
				if body["fingerprint_sha256"], err = certFingerprint(b); err != nil {
					return err
				}
			}
			if typ == domain.CredentialBasic {
				src := passwordFile
				if src == "" {
					src = "-"
				}
				pw, err := a.readSecretLine(src, "password")
				if err != nil {
					return err
				}
				body["password"] = pw
			} else if passwordFile != "" {
				return fmt.Errorf("--password-file is for --type basic, not %s", typ)
			}
			return object(ctx, a, c, http.MethodPost, "/credentials", body, func(cr createdCredential) error {
				fmt.Fprintf(a.io.Out, "Created %s credential %s for consumer %s.\n", clean(cr.Type), clean(cr.ID), clean(cr.ConsumerID))
				if cr.Secret != "" {
					fmt.Fprintf(a.io.Out, "\n    %s\n\n%s\n\n", clean(cr.Secret), secretShownOnce)
				}
				return a.showCredential(cr.credentialItem)
			})
		}),
	}
	f := create.Flags()
	f.StringVar(&consumer, "consumer", "", "consumer id, name, or tenant-slug/name (required)")
	f.StringVar(&typ, "type", "", "jwt_binding, hmac, mtls or basic (required)")
	f.StringVar(&issuer, "issuer", "", "jwt_binding: the trusted issuer's id or name")
	f.StringVar(&subject, "subject", "", "jwt_binding: the token's sub; mtls: the certificate subject")
	f.StringVar(&claim, "claim", "", "jwt_binding: the claim that identifies the consumer (default sub), e.g. client_id")
	f.StringVar(&value, "value", "", "jwt_binding: that claim's value")
	f.StringVar(&keyID, "key-id", "", "hmac: the keyid clients put in Signature-Input")
	f.StringVar(&algorithm, "algorithm", "", "hmac: hmac-sha256 (default without a key), ed25519, ecdsa-p256-sha256, ecdsa-p384-sha384, rsa-pss-sha512, rsa-v1_5-sha256")
	f.StringVar(&publicKeyFile, "public-key-file", "", "hmac: file with the client's public key, PEM or JWK (- for stdin)")
	f.StringVar(&username, "username", "", "basic: the username")
	f.StringVar(&passwordFile, "password-file", "", "basic: file holding the password (default: read it from stdin)")
	f.StringVar(&fingerprint, "fingerprint", "", "mtls: the certificate's SHA-256 fingerprint (hex, colons allowed)")
	f.StringVar(&certFile, "cert-file", "", "mtls: a PEM certificate whose SHA-256 fingerprint to bind")
	f.StringSliceVar(&scopes, "scopes", nil, "scopes of this credential, a subset of the consumer's, comma-separated (default: all of the consumer's; --scopes '' for none)")
	f.StringVar(&expires, "expires", "", "expiry: a duration from now (90d, 36h) or an RFC 3339 time (default: never)")
	f.StringSliceVar(&ipAllow, "ip-allow", nil, "client IPs or CIDRs this credential may be used from, comma-separated")

	var lf listFlags
	var byConsumer, byType, byIssuer, byTenant string
	ls := &cobra.Command{
		Use:   "list [--consumer C] [--type T] [--issuer I] [--tenant T]",
		Short: "List credentials (never a secret or password hash)",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"consumer": byConsumer, "type": byType, "issuer": byIssuer, "tenant": byTenant} {
				if v != "" {
					q.Set(k, v)
				}
			}
			now := a.io.Now()
			return list(ctx, a, c, listing[credentialItem]{
				path: "/credentials", plural: "credentials",
				header: []string{"ID", "CONSUMER", "TYPE", "IDENTIFIES BY", "STATE", "SCOPES", "EXPIRES", "LAST USED"},
				row: func(cr credentialItem) []string {
					return []string{clean(cr.ID), clean(cr.ConsumerID), clean(cr.Type), identifiesBy(cr.Credential), credentialState(cr),
						csv(cr.Scopes), whenPtr(cr.ExpiresAt, now, "never"), whenPtr(cr.LastUsedAt, now, "never")}
				},
			}, q, lf)
		}),
	}
	ls.Flags().StringVar(&byConsumer, "consumer", "", "only this consumer's (id, name, or tenant-slug/name)")
	ls.Flags().StringVar(&byType, "type", "", "only this type: jwt_binding, hmac, mtls or basic")
	ls.Flags().StringVar(&byIssuer, "issuer", "", "only jwt bindings of this issuer (id or name)")
	ls.Flags().StringVar(&byTenant, "tenant", "", "only credentials of this tenant's consumers")
	lf.add(ls)

	get := &cobra.Command{
		Use:   "get <id>",
		Short: "Show one credential (never its secret or password hash)",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, "/credentials/"+pathEscape(args[0]), nil, a.showCredential)
		}),
	}

	var why string
	revoke := &cobra.Command{
		Use:     "revoke <id> --reason R",
		Short:   "Revoke a credential; it is refused from the next request",
		Example: "  gatehouse credential revoke crd_3kTMd92VbQx0aZpL --reason compromised",
		RunE: a.run(spec{args: []string{"<id>"}, required: []string{"reason"}}, func(ctx context.Context, c *client, args []string) error {
			if strings.TrimSpace(why) == "" {
				return errors.New("--reason must not be empty: it is what the credential's holder is told")
			}
			return object(ctx, a, c, http.MethodPost, "/credentials/"+pathEscape(args[0])+"/revoke", map[string]string{"reason": why}, func(cr credentialItem) error {
				fmt.Fprintf(a.io.Out, "Credential %s revoked.\n", clean(cr.ID))
				return a.showCredential(cr)
			})
		}),
	}
	revoke.Flags().StringVar(&why, "reason", "", "why (required)")

	return a.group("credential", "Manage jwt_binding, hmac, mtls and basic credentials",
		"Credentials other than API keys: bindings of a trusted issuer's tokens, RFC 9421 signing keys, client\n"+
			"certificates and Basic passwords. A generated HMAC secret is shown once; passwords are only hashed.",
		create, ls, get, revoke)
}

// identifiesBy names what a credential matches on, for a table cell.
func identifiesBy(c domain.Credential) string {
	switch c.Type {
	case domain.CredentialJWTBinding:
		return clean(c.IssuerID) + " " + clean(c.Claim) + "=" + clean(c.Value)
	case domain.CredentialHMAC:
		return "keyid " + clean(c.KeyID) + " (" + clean(c.Algorithm) + ")"
	case domain.CredentialMTLS:
		if c.FingerprintSHA256 != "" {
			return "sha256 " + clean(c.FingerprintSHA256[:min(16, len(c.FingerprintSHA256))]) + "…"
		}
		return "subject " + clean(c.Subject)
	case domain.CredentialBasic:
		return "user " + clean(c.Username)
	}
	return "–"
}

func credentialState(c credentialItem) string {
	if c.Status != "" {
		return clean(c.Status)
	}
	if c.RevokedAt != nil {
		return "revoked"
	}
	return "active"
}

func (a *app) showCredential(c credentialItem) error {
	now := a.io.Now()
	kv := []string{"ID", clean(c.ID), "Consumer", clean(c.ConsumerID), "Type", clean(c.Type), "State", credentialState(c)}
	switch c.Type {
	case domain.CredentialJWTBinding:
		kv = append(kv, "Issuer", clean(c.IssuerID), "Claim", clean(c.Claim), "Value", clean(c.Value))
	case domain.CredentialHMAC:
		kv = append(kv, "Key id", clean(c.KeyID), "Algorithm", clean(c.Algorithm))
		if c.PublicKey != "" {
			kv = append(kv, "Public key", "yes")
		} else {
			kv = append(kv, "Secret", yesNo(c.HasSecret, "generated, stored encrypted", "–"))
		}
	case domain.CredentialMTLS:
		kv = append(kv, "Fingerprint", or(c.FingerprintSHA256, "–"), "Subject", or(c.Subject, "–"))
	case domain.CredentialBasic:
		kv = append(kv, "Username", clean(c.Username))
	}
	kv = append(kv, "Scopes", csv(c.Scopes), "IP allow", or(csvOrEmpty(c.IPAllow), "any"), "Expires", whenPtr(c.ExpiresAt, now, "never"))
	if c.RevokedAt != nil {
		kv = append(kv, "Revoked", when(*c.RevokedAt, now)+": "+or(c.RevokedReason, "no reason given"))
	}
	kv = append(kv, "Created", when(c.CreatedAt, now), "Last used", whenPtr(c.LastUsedAt, now, "never"))
	return fields(a.io.Out, kv...)
}
