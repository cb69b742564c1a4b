package authheader

import (
	"net/http"
	"testing"

	"gatehouse/internal/reason"
)

const key = "gk_live_7Hq2xK9pLm3Q_abcdefghijklmnopqrstuvwxyzABCDEF1a2YlQ"

func TestParseBasic(t *testing.T) {
	c, e := Parse("Bearer " + key)
	if e != nil || c.Kind != Bearer || c.Token != key || c.Source != SourceAuthorization {
		t.Fatalf("Parse(Bearer key) = %+v, %v", c, e)
	}
	if _, e := Parse("Bearer  " + key); e == nil || e.Code != reason.AuthMalformedHeader {
		t.Fatalf("double space: got %v", e)
	}
}

func TestFromRequestBasic(t *testing.T) {
	h := http.Header{"Authorization": {"Bearer " + key}, "X-Api-Key": {key}}
	c, e := FromRequest(h, "", false)
	if e != nil || c.Token != key || c.Source != SourceAuthorization {
		t.Fatalf("same key twice: %+v, %v", c, e)
	}
	h["X-Api-Key"] = []string{"gk_test_other"}
	if _, e := FromRequest(h, "", false); e == nil || e.Code != reason.AuthAmbiguous {
		t.Fatalf("two keys: got %v", e)
	}
}
