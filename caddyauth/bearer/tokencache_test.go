package bearer

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"
)

// TestTokenCacheBound: a full cache drops expired entries first, then about
// an eighth, and its count stays true under concurrent use.
func TestTokenCacheBound(t *testing.T) {
	key := func(i int) [32]byte { return tokenKey("token-" + strconv.Itoa(i)) }
	count := func(c *tokenCache) int64 {
		var n int64
		c.entries.Range(func(any, any) bool { n++; return true })
		return n
	}
	now := time.Now()
	c := newTokenCache(16)
	for i := 0; i < 8; i++ {
		c.put(key(i), &tokenEntry{expires: now.Add(-time.Second)})
	}
	for i := 8; i < 16; i++ {
		c.put(key(i), &tokenEntry{expires: now.Add(time.Hour)})
	}
	c.put(key(16), &tokenEntry{expires: now.Add(time.Hour)})
	if n := count(c); n != 9 || c.n.Load() != 9 {
		t.Fatalf("after the expired went: %d entries, count %d; want 9", n, c.n.Load())
	}
	for i := 8; i <= 16; i++ {
		if c.get(key(i), now) == nil {
			t.Errorf("live entry %d was dropped", i)
		}
	}
	for i := 17; i < 200; i++ {
		c.put(key(i), &tokenEntry{expires: now.Add(time.Hour)})
		if n := c.n.Load(); n > 16 {
			t.Fatalf("%d entries, over the bound", n)
		}
	}
	if c.get(key(199), now) == nil {
		t.Error("the newest entry is missing")
	}

	c = newTokenCache(32)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				k := key(g*1000 + i)
				c.put(k, &tokenEntry{expires: now.Add(time.Hour)})
				c.get(k, now)
			}
		}(g)
	}
	wg.Wait()
	if n, want := count(c), c.n.Load(); n != want || n > 32+4 {
		t.Errorf("after concurrent use: %d entries, count %d (bound 32)", n, want)
	}
}

// TestVerifyOnce: requests carrying one token at the same moment share
// one verification; its answer (or refusal) is everyone's.
func TestVerifyOnce(t *testing.T) {
	var g singleflight.Group
	var runs atomic.Int64
	key := tokenKey("a token")
	var wg sync.WaitGroup
	start := make(chan struct{})
	results := make([]string, 32)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			v, err := once(&g, key, func() (string, error) {
				runs.Add(1)
				time.Sleep(50 * time.Millisecond)
				return "claims", nil
			})
			if err == nil {
				results[i] = v
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Errorf("%d verifications for one token, want 1", n)
	}
	for i, r := range results {
		if r != "claims" {
			t.Errorf("request %d got %q", i, r)
		}
	}
	other, _ := once(&g, tokenKey("another"), func() (string, error) { return "other", nil })
	if other != "other" {
		t.Error("another token shared the answer")
	}
}

// TestForgedFloodKeepsGoodTokens: refusals go to their own small table, so
// a flood of new forged tokens never evicts a verified token (whose client
// would then pay a signature check again), and a repeated forged token is
// answered from that table.
func TestForgedFloodKeepsGoodTokens(t *testing.T) {
	secret := "0123456789abcdef0123456789abcdef-test"
	v := &JWTValidator{Algorithms: []string{"HS256"}, AnyAudience: true}
	v.keys = keySet{{key: []byte(secret)}}
	if err := v.setup(); err != nil {
		t.Fatal(err)
	}
	b := &Bearer{JWT: []*JWTValidator{v}, RolesFrom: "both", cache: newTokenCache(16), refused: new(refusedCache)}
	s := benchSnapshot(t)
	mk := func(sub string, sign string) string {
		c := jwt.MapClaims{"sub": sub, "exp": time.Now().Add(time.Hour).Unix()}
		tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(sign))
		return tok
	}
	req := func(tok string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	good := mk("alice", secret)
	if _, err := b.Authenticate(req(good), s); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		if _, err := b.Authenticate(req(mk(strconv.Itoa(i), "not-the-secret-0123456789abcdef")), s); err == nil {
			t.Fatal("a forged token passed")
		}
	}
	if b.cache.get(tokenKey(good), time.Now()) == nil {
		t.Error("the flood evicted the verified token")
	}
	forged := mk("mallory", "not-the-secret-0123456789abcdef")
	b.Authenticate(req(forged), s)
	if b.refused.get(tokenKey(forged), time.Now()) == nil {
		t.Error("a refused token is not remembered")
	}
}
