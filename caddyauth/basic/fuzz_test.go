package basic

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/restauth/caddy-restauth/caddyauth/throttle"
)

// FuzzParseBasic: an accepted header re-encodes to itself, the user has no
// colon, and neither part is empty.
func FuzzParseBasic(f *testing.F) {
	for _, s := range []string{"Basic YWxpY2U6cHc=", "Basic !!", "basic YTpiOmM=", "Basic  YTpi", "Basic"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		user, pass, ok := parseBasic(v)
		if !ok {
			return
		}
		if user == "" || pass == "" || strings.Contains(user, ":") {
			t.Fatalf("accepted %q as %q / %q", v, user, pass)
		}
		if again := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)); again != v[6:] {
			t.Fatalf("%q does not re-encode to itself", v)
		}
	})
}

// FuzzDecodeBase64: the hand-written decoder agrees with the standard
// library's strict decoder (which also skips line breaks; this one refuses
// them).
func FuzzDecodeBase64(f *testing.F) {
	for _, s := range []string{"YWxpY2U6cHc=", "YQ==", "YR==", "YWI=", "", "====", "YW\nI="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf [maxBasicHeader]byte
		n, ok := decodeBase64(buf[:], s)
		want, err := base64.StdEncoding.Strict().DecodeString(s)
		if strings.ContainsAny(s, "\r\n") || s == "" || len(s)/4*3 > len(buf) {
			if ok {
				t.Fatalf("accepted %q", s)
			}
			return
		}
		if ok != (err == nil) || ok && string(buf[:n]) != string(want) {
			t.Fatalf("%q: %q %v, standard library %q %v", s, buf[:n], ok, want, err)
		}
	})
}

// TestReview14LongUserName: a user name over 256 bytes is refused before it
// is hashed or counted.
func TestReview14LongUserName(t *testing.T) {
	long := strings.Repeat("u", throttle.MaxName+1)
	if _, _, ok := parseBasic("Basic " + base64.StdEncoding.EncodeToString([]byte(long+":pw"))); ok {
		t.Error("a user name over 256 bytes parsed")
	}
	if _, _, ok := parseBasic("Basic " + base64.StdEncoding.EncodeToString([]byte(long[1:]+":pw"))); !ok {
		t.Error("a user name of 256 bytes was refused")
	}
}
