package bearer

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestReview3LeewayJSON: in JSON an explicit leeway of 0 is strict, and
// differs from leaving leeway out (30 s).
func TestReview3LeewayJSON(t *testing.T) {
	for _, c := range []struct {
		js   string
		want time.Duration
	}{
		{`{"leeway":0}`, 0},
		{`{}`, 30 * time.Second},
		{`{"leeway":"5s"}`, 5 * time.Second},
	} {
		var v JWTValidator
		if err := json.Unmarshal([]byte(c.js), &v); err != nil {
			t.Fatal(err)
		}
		if err := v.setup(); err != nil {
			t.Fatal(err)
		}
		if got := time.Duration(*v.Leeway); got != c.want {
			t.Errorf("%s: leeway %v, want %v", c.js, got, c.want)
		}
	}
}

// TestReview13RemoteSymmetricKeys: an oct key in a set fetched from a URL
// is skipped (a file may hold one).
func TestReview13RemoteSymmetricKeys(t *testing.T) {
	oct := `{"kty":"oct","kid":"h","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYtdGVzdA"}`
	ed := `{"kty":"OKP","kid":"e","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
	ks, err := parseJWKSet([]byte(`{"keys":[`+oct+`,`+ed+`]}`), false)
	if err != nil || len(ks) != 1 || ks[0].kid != "e" {
		t.Fatalf("remote set: %v %v", ks, err)
	}
	if _, err := parseJWKSet([]byte(`{"keys":[`+oct+`]}`), false); err == nil || !strings.Contains(err.Error(), "symmetric key from a URL is refused") {
		t.Fatalf("remote set of one oct key: %v", err)
	}
	if ks, err := parseJWKSet([]byte(`{"keys":[`+oct+`]}`), true); err != nil || len(ks) != 1 {
		t.Fatalf("file: %v %v", ks, err)
	}
}
