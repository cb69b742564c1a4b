package server

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"gatehouse/internal/authheader"
	"gatehouse/internal/credential"
	"gatehouse/internal/credential/basic"
	"gatehouse/internal/credential/httpsig"
	"gatehouse/internal/credential/httpsig/sigkey"
	"gatehouse/internal/credential/introspect"
	"gatehouse/internal/credential/jwt"
	"gatehouse/internal/credential/mtls"
	"gatehouse/internal/domain"
	"gatehouse/internal/secrets"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/store"
)

// Names of the snapshot extensions the server attaches.
const (
	extJWT     = "jwt"
	extHTTPSig = "httpsig"
	extBasic   = "basic"
	extMTLS    = "mtls"
)

// credentialIndex compiles, at every snapshot build, what the credential
// schemes other than API keys need: trusted issuers and jwt_binding
// credentials for the JWT verifier, RFC 9421 keys for the signature
// verifier. Issuers keep their *jwt.Issuer across builds while their
// configuration is unchanged (verified tokens are cached per issuer).
//
// One unusable issuer or key never fails a build (that would stop every
// other change from taking effect): it is left out and logged, and its
// tokens or signatures then answer as unknown.
type credentialIndex struct {
	box *secrets.Box
	log *slog.Logger

	mu        sync.Mutex
	issuers   map[string]issuerEntry   // by issuer id
	endpoints map[string]endpointEntry // by issuer id

	aiMu sync.Mutex
	ai   map[string]aiProviderEntry // by provider id
}

type issuerEntry struct {
	fingerprint string
	issuer      *jwt.Issuer
}

// jwtBindings implements jwt.Bindings over one snapshot.
//
// It also implements introspect.Bindings: the same jwt_binding
// credentials map introspected tokens to consumers.
type jwtBindings struct {
	byIss     map[string]*jwt.Issuer
	bound     map[bindingKey]*credential.TokenBinding
	all       []*jwt.Issuer
	endpoints []*introspect.Endpoint
}

// Endpoints implements introspect.Bindings.
func (b *jwtBindings) Endpoints() []*introspect.Endpoint { return b.endpoints }

type bindingKey struct{ issuer, claim, value string }

func (b *jwtBindings) Issuer(iss string) (*jwt.Issuer, bool) {
	i, ok := b.byIss[iss]
	return i, ok
}

func (b *jwtBindings) Binding(issuerName, claim, value string) *credential.TokenBinding {
	return b.bound[bindingKey{issuerName, claim, value}]
}

// extend is the snapshot's Options.Extend.
func (ci *credentialIndex) extend(s *snapshot.Snapshot, d *store.Data) error {
	b, err := ci.jwtBindings(s, d)
	if err != nil {
		return err
	}
	s.SetExt(extJWT, b)
	ring, err := ci.signatureKeys(s, d)
	if err != nil {
		return err
	}
	s.SetExt(extHTTPSig, ring)
	users, certs := otherCredentials(s, d)
	s.SetExt(extBasic, users)
	s.SetExt(extMTLS, certs)
	ci.buildAI(s, d)
	return nil
}

// basicUsers implements basic.Users; mtlsBindings implements
// mtls.Bindings.
type basicUsers map[string]*basic.User

func (u basicUsers) User(name string) *basic.User { return u[name] }

type mtlsBindings struct {
	byFP      map[string]*mtls.Binding
	bySubject map[[2]string]*mtls.Binding // {issuer DN or "", subject DN}
}

func (m *mtlsBindings) ByFingerprint(fp string) *mtls.Binding { return m.byFP[fp] }

func (m *mtlsBindings) BySubject(issuer, subject string) *mtls.Binding {
	if b := m.bySubject[[2]string{issuer, subject}]; b != nil {
		return b
	}
	return m.bySubject[[2]string{"", subject}]
}

// otherCredentials compiles the live basic and mtls credentials.
func otherCredentials(s *snapshot.Snapshot, d *store.Data) (basicUsers, *mtlsBindings) {
	users := basicUsers{}
	certs := &mtlsBindings{byFP: map[string]*mtls.Binding{}, bySubject: map[[2]string]*mtls.Binding{}}
	for _, c := range d.Credentials {
		if c.RevokedAt != nil || (c.Type != domain.CredentialBasic && c.Type != domain.CredentialMTLS) {
			continue
		}
		con := s.Consumer(c.ConsumerID)
		if con == nil {
			continue
		}
		scopes := c.Scopes
		if len(scopes) == 0 {
			scopes = con.Scopes
		}
		allow := prefixes(c.IPAllow)
		switch c.Type {
		case domain.CredentialBasic:
			users[c.Username] = &basic.User{CredentialID: c.ID, Username: c.Username, PasswordHash: c.PasswordHash,
				Consumer: con, Scopes: scopes, ScopeHeader: strings.Join(scopes, " "), ExpiresAt: c.ExpiresAt, IPAllow: allow}
		case domain.CredentialMTLS:
			b := &mtls.Binding{CredentialID: c.ID, Consumer: con, Scopes: scopes, ScopeHeader: strings.Join(scopes, " "),
				ExpiresAt: c.ExpiresAt, IPAllow: allow}
			if c.FingerprintSHA256 != "" {
				certs.byFP[c.FingerprintSHA256] = b
			}
			if c.Subject != "" {
				certs.bySubject[[2]string{"", c.Subject}] = b
			}
		}
	}
	return users, certs
}

func prefixes(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range list {
		if p, err := netip.ParsePrefix(a); err == nil {
			out = append(out, p.Masked())
		} else if ip, err := netip.ParseAddr(a); err == nil {
			out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
		}
	}
	return out
}

func basicUsersOf(s *snapshot.Snapshot) basic.Users {
	if u, ok := s.Ext(extBasic).(basicUsers); ok {
		return u
	}
	return basicUsers{}
}

func mtlsBindingsOf(s *snapshot.Snapshot) mtls.Bindings {
	if b, ok := s.Ext(extMTLS).(*mtlsBindings); ok {
		return b
	}
	return &mtlsBindings{}
}

func (ci *credentialIndex) jwtBindings(s *snapshot.Snapshot, d *store.Data) (*jwtBindings, error) {
	b := &jwtBindings{byIss: map[string]*jwt.Issuer{}, bound: map[bindingKey]*credential.TokenBinding{}}
	claimsByIssuer := map[string][]string{}
	issuerName := map[string]string{}
	for _, is := range d.Issuers {
		issuerName[is.ID] = is.Name
	}
	for _, c := range d.Credentials {
		if c.Type != domain.CredentialJWTBinding || c.RevokedAt != nil {
			continue
		}
		claim := c.Claim
		if claim == "" {
			claim = "sub"
		}
		con := s.Consumer(c.ConsumerID)
		if con == nil {
			continue
		}
		scopes := c.Scopes
		if len(scopes) == 0 {
			scopes = con.Scopes
		}
		b.bound[bindingKey{issuerName[c.IssuerID], claim, c.Value}] = &credential.TokenBinding{CredentialID: c.ID,
			Consumer: con, Scopes: scopes, ScopeHeader: strings.Join(scopes, " "), ExpiresAt: c.ExpiresAt, IPAllow: prefixes(c.IPAllow)}
		if !hasString(claimsByIssuer[c.IssuerID], claim) {
			claimsByIssuer[c.IssuerID] = append(claimsByIssuer[c.IssuerID], claim)
		}
	}
	ci.mu.Lock()
	defer ci.mu.Unlock()
	ci.introspectionEndpoints(b, d, claimsByIssuer)
	seen := map[string]bool{}
	for _, is := range d.Issuers {
		if is.JWKSURL == "" && is.DiscoveryURL == "" && is.HS256Secret == "" {
			continue // an introspection-only issuer
		}
		seen[is.ID] = true
		cfg := jwt.Issuer{
			Name: is.Name, Issuer: is.Issuer, JWKSURL: is.JWKSURL, DiscoveryURL: is.DiscoveryURL,
			Audiences: is.Audiences, AnyAudience: len(is.Audiences) == 0, Algorithms: is.Algorithms,
			Leeway: is.Leeway.D(), RequiredClaims: is.RequiredClaims, Typ: is.Typ,
			BindingClaims: claimsByIssuer[is.ID],
		}
		if is.HS256Secret != "" {
			sec, err := ci.open(is.HS256Secret)
			if err != nil {
				ci.log.Error("issuer left out of the snapshot", "issuer", is.Name, "err", err)
				continue
			}
			cfg.HS256Secret = sec
		}
		fp, _ := json.Marshal(cfg)
		fps := string(fp)
		if e, ok := ci.issuers[is.ID]; ok && e.fingerprint == fps {
			b.byIss[is.Issuer] = e.issuer
			b.all = append(b.all, e.issuer)
			continue
		}
		iss, err := jwt.NewIssuer(cfg)
		if err != nil {
			ci.log.Error("issuer left out of the snapshot", "issuer", is.Name, "err", err)
			continue
		}
		ci.issuers[is.ID] = issuerEntry{fingerprint: fps, issuer: iss}
		b.byIss[is.Issuer] = iss
		b.all = append(b.all, iss)
	}
	for id := range ci.issuers {
		if !seen[id] {
			delete(ci.issuers, id)
		}
	}
	return b, nil
}

// introspectionEndpoints builds one endpoint per issuer with an
// introspection URL, reusing it while its configuration is unchanged (its
// cache of answers is tied to the pointer). Called with ci.mu held.
func (ci *credentialIndex) introspectionEndpoints(b *jwtBindings, d *store.Data, claims map[string][]string) {
	if ci.endpoints == nil {
		ci.endpoints = map[string]endpointEntry{}
	}
	seen := map[string]bool{}
	for _, is := range d.Issuers {
		if is.IntrospectionURL == "" {
			continue
		}
		seen[is.ID] = true
		ep := introspect.Endpoint{Name: is.Name, URL: is.IntrospectionURL, ClientID: is.IntrospectionClientID,
			Audiences: is.Audiences, BindingClaims: claims[is.ID]}
		fpb, _ := json.Marshal(struct {
			E      introspect.Endpoint
			Secret string
		}{ep, is.IntrospectionClientSecret})
		fp := string(fpb)
		if e, ok := ci.endpoints[is.ID]; ok && e.fingerprint == fp {
			b.endpoints = append(b.endpoints, e.ep)
			continue
		}
		if is.IntrospectionClientSecret != "" {
			sec, err := ci.open(is.IntrospectionClientSecret)
			if err != nil {
				ci.log.Error("introspection endpoint left out of the snapshot", "issuer", is.Name, "err", err)
				continue
			}
			ep.ClientSecret = sec
		}
		e, err := introspect.NewEndpoint(ep)
		if err != nil {
			ci.log.Error("introspection endpoint left out of the snapshot", "issuer", is.Name, "err", err)
			continue
		}
		ci.endpoints[is.ID] = endpointEntry{fingerprint: fp, ep: e}
		b.endpoints = append(b.endpoints, e)
	}
	for id := range ci.endpoints {
		if !seen[id] {
			delete(ci.endpoints, id)
		}
	}
}

type endpointEntry struct {
	fingerprint string
	ep          *introspect.Endpoint
}

func (ci *credentialIndex) signatureKeys(s *snapshot.Snapshot, d *store.Data) (httpsig.Keyring, error) {
	ring := httpsig.Keyring{}
	for _, c := range d.Credentials {
		if c.Type != domain.CredentialHMAC || c.RevokedAt != nil {
			continue
		}
		con := s.Consumer(c.ConsumerID)
		if con == nil {
			continue
		}
		var key *sigkey.Key
		var err error
		switch {
		case c.Secret != "":
			var sec []byte
			if sec, err = ci.open(c.Secret); err == nil {
				key, err = sigkey.NewHMAC(sec)
			}
		default:
			var alg sigkey.Algorithm
			if alg, err = sigkey.ParseAlgorithm(c.Algorithm); err == nil {
				key, err = sigkey.Parse(alg, []byte(c.PublicKey))
			}
		}
		if err != nil {
			ci.log.Error("signature key left out of the snapshot", "credential", c.ID, "key_id", c.KeyID, "err", err)
			continue
		}
		scopes := c.Scopes
		if len(scopes) == 0 {
			scopes = con.Scopes
		}
		allow := prefixes(c.IPAllow)
		ring[c.KeyID] = &httpsig.Key{ID: c.KeyID, CredentialID: c.ID, Verifier: key, Consumer: con,
			Scopes: scopes, ScopeHeader: strings.Join(scopes, " "), ExpiresAt: c.ExpiresAt, IPAllow: allow}
	}
	return ring, nil
}

func (ci *credentialIndex) open(sealed string) ([]byte, error) {
	if ci.box == nil {
		return nil, fmt.Errorf("a sealed secret but no master key is loaded")
	}
	return ci.box.Open(sealed)
}

// jwtBindingsOf returns the bindings of a snapshot (jwt.Options.Bindings).
func introspectBindingsOf(s *snapshot.Snapshot) introspect.Bindings {
	if b, ok := s.Ext(extJWT).(*jwtBindings); ok {
		return b
	}
	return &jwtBindings{}
}

func jwtBindingsOf(s *snapshot.Snapshot) jwt.Bindings {
	if b, ok := s.Ext(extJWT).(*jwtBindings); ok {
		return b
	}
	return &jwtBindings{}
}

// signatureKeysOf returns the RFC 9421 keys of a snapshot.
func signatureKeysOf(s *snapshot.Snapshot) httpsig.Keys {
	if k, ok := s.Ext(extHTTPSig).(httpsig.Keyring); ok {
		return k
	}
	return httpsig.Keyring{}
}

func hasString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// mtlsVerifier adds the extract-stage detection of a client certificate
// (which is not an Authorization value) to the mtls verifier.
type mtlsVerifier struct{ *mtls.Verifier }

func (mtlsVerifier) Detect(r *http.Request) (authheader.Credential, bool) { return mtls.Present(r) }
