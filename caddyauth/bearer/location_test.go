package bearer_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/restauth/caddy-restauth/internal/testkit"
)

// TestTokenLocations: each configured place finds a token; a token in two
// places is a 400; the cookie, header and query parameter never reach the
// upstream; a cookie token with an unsafe method needs a same-origin
// request or the CSRF header.
func TestTokenLocations(t *testing.T) {
	testKeys()
	dir := t.TempDir()
	keyFile := testkit.WriteFile(t, dir, "rsa.pem", pemPublic(t, &rsaKey.PublicKey))
	h := testkit.StartCaddy(t, fmt.Sprintf(`
		users USERS
		resources RESOURCES
		bearer {
			token_from authorization
			token_from header X-Access-Token Bearer
			token_from cookie at
			token_from query access_token
			token_from form
			csrf_header X-CSRF
			jwt {
				issuer %s
				audience api
				key %s
				algorithms RS256
			}
		}
`, issuer, keyFile))
	tok := mint(t, jwt.SigningMethodRS256, rsaKey, "k1", claims("alice"))
	forged := mint(t, jwt.SigningMethodRS256, rsaEvil, "k1", claims("alice", "jti", "forged"))
	me := "/api/identity/user/v1.0/me"
	A := "Authorization"

	h.Expect("Authorization header", 200, true, h.Status("GET", me, A, testkit.Bearer(tok)))
	h.Expect("X-Access-Token with its scheme", 200, true, h.Status("GET", me, "X-Access-Token", "Bearer "+tok))
	if hd, _ := h.Up.Last(); hd.Get("X-Access-Token") != "" {
		t.Error("the X-Access-Token field reached the upstream")
	}
	h.Expect("X-Access-Token without its scheme", 401, false, h.Status("GET", me, "X-Access-Token", tok))
	h.Expect("a cookie", 200, true, h.Status("GET", me, "Cookie", "theme=dark; at="+tok+"; lang=en"))
	if hd, _ := h.Up.Last(); hd.Get("Cookie") != "theme=dark; lang=en" {
		t.Errorf("the upstream saw Cookie %q, want the other cookies only", hd.Get("Cookie"))
	}
	h.Expect("a query parameter", 200, true, h.Status("GET", me+"?a=1&access_token="+tok+"&b=%20x"))
	if q := h.Up.LastQuery(); q != "a=1&b=%20x" {
		t.Errorf("the upstream saw the query %q, want a=1&b=%%20x", q)
	}
	h.Expect("a forged token in a cookie", 401, false, h.Status("GET", me, "Cookie", "at="+forged))
	h.Expect("header and cookie at once", 400, false, h.Status("GET", me, A, testkit.Bearer(tok), "Cookie", "at="+tok))
	h.Expect("cookie and query at once", 400, false, h.Status("GET", me+"?access_token="+tok, "Cookie", "at="+tok))
	h.Expect("two cookies of the name", 400, false, h.Status("GET", me, "Cookie", "at="+tok+"; at="+tok))

	h.Expect("POST with a cookie token from another site", 403, false, h.Status("POST", me, "Cookie", "at="+tok, "Sec-Fetch-Site", "cross-site"))
	h.Expect("POST with a cookie token and no Sec-Fetch-Site", 403, false, h.Status("POST", me, "Cookie", "at="+tok))
	h.Expect("POST with a cookie token, same origin", 200, true, h.Status("POST", me, "Cookie", "at="+tok, "Sec-Fetch-Site", "same-origin"))
	h.Expect("POST with a cookie token and the CSRF header", 200, true, h.Status("POST", me, "Cookie", "at="+tok, "X-CSRF", "1"))
	h.Expect("POST with the Authorization header needs no CSRF defence", 200, true, h.Status("POST", me, A, testkit.Bearer(tok), "Sec-Fetch-Site", "cross-site"))
	post := func(method, ctype, body string, headers ...string) func() int {
		return func() int {
			req, _ := http.NewRequest(method, "http://127.0.0.1:9080"+me, strings.NewReader(body))
			req.Header.Set("Content-Type", ctype)
			for i := 0; i+1 < len(headers); i += 2 {
				req.Header.Set(headers[i], headers[i+1])
			}
			resp, err := testkit.Fresh.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
	}
	form := "application/x-www-form-urlencoded"
	h.Expect("a form body", 200, true, post("POST", form, "a=1&access_token="+tok+"&b=%20x"))
	if b := h.Up.LastBody(); b != "a=1&b=%20x" {
		t.Errorf("the upstream saw the body %q, want a=1&b=%%20x", b)
	}
	h.Expect("a form body with its charset", 200, true, post("POST", form+"; charset=utf-8", "access_token="+tok))
	h.Expect("a form body and the Authorization header", 400, false, post("POST", form, "access_token="+tok, A, testkit.Bearer(tok)))
	h.Expect("GET with a form body is not looked at", 401, false, post("GET", form, "access_token="+tok))
	h.Expect("a JSON body is not looked at", 401, false, post("POST", "application/json", `{"access_token":"`+tok+`"}`))
	big := "access_token=" + tok + "&pad=" + strings.Repeat("x", 70<<10)
	h.Expect("a form body over 64 KiB is not looked at", 401, false, post("POST", form, big))
	h.Expect("a large form body with the token in the header", 200, true, post("POST", form, "pad="+strings.Repeat("y", 70<<10), A, testkit.Bearer(tok)))
	if b := h.Up.LastBody(); len(b) != 4+70<<10 {
		t.Errorf("the upstream saw %d bytes of a %d-byte body", len(b), 4+70<<10)
	}
	h.Expect("a body without a token goes on whole", 200, true, post("POST", form, "q=1", A, testkit.Bearer(tok)))
	if b := h.Up.LastBody(); b != "q=1" {
		t.Errorf("the upstream saw the body %q, want q=1", b)
	}

	resp, body := h.Do("POST", me, "Cookie", "at="+tok, "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != 403 || !strings.Contains(body, "same-origin") || strings.Contains(body, tok) {
		t.Errorf("CSRF refusal: %d %s", resp.StatusCode, body)
	}
}
