package doctor

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// Check names of the JWT checks.
const (
	checkJWT       = "JWT"
	checkJWTHeader = "JWT header"
	checkJWTClaims = "JWT claims"
	checkJWTTime   = "JWT lifetime"
)

// Leeways the doctor reasons with. The gateway's issuer leeway is its
// operator's choice (the spec's example is 60 s); the doctor cannot know
// it, so it fails what no usual leeway accepts and warns about the rest.
const (
	usualLeeway = 60 * time.Second
	// iatTolerance: an iat this far ahead is rounding, not a wrong clock.
	iatTolerance = 5 * time.Second
)

// looksJWT reports the compact JWS shape "eyJ….….…" (the same test the
// gateway's API-key verifier uses to leave a bearer token to JWT
// verification).
func looksJWT(s string) bool {
	return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

type jwtClaims struct {
	Iss string       `json:"iss"`
	Sub string       `json:"sub"`
	Aud audience     `json:"aud"`
	Exp *numericDate `json:"exp"`
	Nbf *numericDate `json:"nbf"`
	Iat *numericDate `json:"iat"`
}

// audience is RFC 7519's aud: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// numericDate is RFC 7519's NumericDate: seconds since the epoch, possibly
// fractional.
type numericDate struct{ time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("a time claim is not a number of seconds (NumericDate)")
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return fmt.Errorf("a time claim is out of range")
	}
	sec, frac := math.Modf(f)
	d.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}

// decodeSegment decodes one base64url JSON segment into v. Padding is
// tolerated here (the gateway may be stricter; jwt.malformed then tells).
func decodeSegment(seg string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return fmt.Errorf("not base64url")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		if strings.Contains(err.Error(), "NumericDate") || strings.Contains(err.Error(), "aud is") || strings.Contains(err.Error(), "out of range") {
			return err
		}
		return fmt.Errorf("not a JSON object")
	}
	return nil
}

// jwtChecks decodes a JWT WITHOUT verifying it (the doctor holds no keys)
// and checks its header and its times against the local clock.
func (r *run) jwtChecks(tok string) {
	parts := strings.Split(tok, ".")
	var h jwtHeader
	if err := decodeSegment(parts[0], &h); err != nil {
		r.jwtMalformed(fmt.Sprintf("the header (first segment) is %v", err))
		return
	}
	var c jwtClaims
	if err := decodeSegment(parts[1], &c); err != nil {
		r.jwtMalformed(fmt.Sprintf("the claims (second segment) are %v", err))
		return
	}
	r.jwtKid, r.jwtIss = h.Kid, c.Iss
	hd := []string{"alg " + or(h.Alg, "(none given)")}
	if h.Kid != "" {
		hd = append(hd, "kid "+h.Kid)
	}
	if h.Typ != "" {
		hd = append(hd, "typ "+h.Typ)
	}
	detail := strings.Join(hd, ", ") + " (decoded without verification: the signature is the gateway's to check)"
	switch {
	case h.Alg == "" || strings.EqualFold(h.Alg, "none"):
		r.add(GroupLocal, checkJWTHeader, Fail, detail+": the token is unsigned, and no gateway accepts an unsigned token")
		r.note(&finding{code: "jwt.alg_not_allowed", blocking: true, fix: "The token is unsigned (alg none): get a signed token from your identity provider."})
	case parts[2] == "":
		r.add(GroupLocal, checkJWTHeader, Fail, detail+": the signature (third segment) is empty; the token was cut short")
		r.note(&finding{code: "jwt.malformed", explains: []string{"jwt.signature_invalid"}, blocking: true,
			fix: "The token's signature is missing (it was cut short): copy the whole token again."})
	default:
		r.add(GroupLocal, checkJWTHeader, Pass, detail)
	}

	cl := []string{"iss " + or(c.Iss, "(none)")}
	if len(c.Aud) > 0 {
		cl = append(cl, "aud "+strings.Join(c.Aud, " "))
	}
	if c.Sub != "" {
		cl = append(cl, "sub "+c.Sub)
	}
	if c.Iss == "" {
		r.add(GroupLocal, checkJWTClaims, Warn, strings.Join(cl, ", ")+": without iss a gateway cannot tell which issuer to trust")
	} else {
		r.add(GroupLocal, checkJWTClaims, Pass, strings.Join(cl, ", "))
	}
	r.jwtTimes(c)
}

func (r *run) jwtMalformed(detail string) {
	r.add(GroupLocal, checkJWT, Fail, "looks like a JWT, but "+detail)
	r.note(&finding{code: "jwt.malformed", blocking: true,
		fix: "The token is damaged (" + detail + "): send it exactly as the identity provider issued it."})
}

// jwtTimes checks exp, nbf and iat against the local clock.
func (r *run) jwtTimes(c jwtClaims) {
	now := r.now
	issuer := "your identity provider"
	if c.Iss != "" {
		issuer = c.Iss
	}
	switch {
	case c.Exp != nil && !now.Before(c.Exp.Time):
		ago := now.Sub(c.Exp.Time)
		d := fmt.Sprintf("expired %s ago (exp %s, by this machine's clock)", human(ago), rfc3339(c.Exp.Time))
		if ago <= usualLeeway {
			d += "; a gateway's leeway (often 60 s) may still accept it, briefly"
		}
		r.add(GroupLocal, checkJWTTime, Fail, d)
		r.note(&finding{code: "jwt.expired", blocking: ago > usualLeeway,
			fix: fmt.Sprintf("The token expired %s ago (exp %s): get a fresh token from %s.", human(ago), rfc3339(c.Exp.Time), issuer)})
	case c.Nbf != nil && now.Before(c.Nbf.Time):
		ahead := c.Nbf.Sub(now)
		r.add(GroupLocal, checkJWTTime, Fail, fmt.Sprintf("not valid for another %s (nbf %s): the issuer's clock is ahead of this machine's, or this one is behind", human(ahead), rfc3339(c.Nbf.Time)))
		r.note(&finding{code: "jwt.not_yet_valid", blocking: ahead > usualLeeway, fix: skewFix("nbf", ahead)})
	case c.Iat != nil && c.Iat.Sub(now) > iatTolerance:
		ahead := c.Iat.Sub(now)
		d := fmt.Sprintf("issued %s in the future (iat %s): the issuer's clock is %s ahead of this machine's", human(ahead), rfc3339(c.Iat.Time), human(ahead))
		l := Warn
		if ahead > usualLeeway {
			l = Fail
			d += ", beyond the usual leeway (60 s): the gateway will likely answer jwt.not_yet_valid"
		}
		r.add(GroupLocal, checkJWTTime, l, d)
		r.note(&finding{code: "jwt.not_yet_valid", blocking: l == Fail, fix: skewFix("iat", ahead)})
	case c.Exp == nil:
		r.add(GroupLocal, checkJWTTime, Warn, "no exp claim: the token never expires, and gateways that require exp reject it")
		r.note(&finding{code: "jwt.claim_missing", fix: "The token has no exp claim: ask your identity provider for tokens with an expiry."})
	default:
		d := fmt.Sprintf("valid for another %s (exp %s)", human(c.Exp.Sub(now)), rfc3339(c.Exp.Time))
		if c.Iat != nil {
			d += fmt.Sprintf(", issued %s ago", human(now.Sub(c.Iat.Time)))
		}
		r.add(GroupLocal, checkJWTTime, Pass, d+" by this machine's clock")
	}
}

// skewFix is the fix for a token stamped in the future (nbf or iat ahead
// of the local clock). A token is normally stamped with the issuer's "now",
// so this is clock skew between the issuer and the gateway, not a problem
// of the token: the fix says so and names who can correct it. The amount
// is rounded to the minute when it is one or more (the token's age is
// unknown, so seconds would be false precision); the claim gives the exact
// figure.
func skewFix(claim string, ahead time.Duration) string {
	amount := human(ahead)
	if ahead >= time.Minute {
		amount = "about " + human(ahead.Round(time.Minute))
	}
	return fmt.Sprintf("Clock skew: the issuer's clock is %s ahead (the token's %s is %s in the future by this machine's clock, beyond the gateway's leeway): fix the issuer's clock (NTP), or ask the API operator to raise the issuer's leeway.",
		amount, claim, human(ahead))
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
