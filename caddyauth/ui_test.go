package caddyauth_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/internal/testkit"
)

// browser starts Debian's chromium headless for a test; without it the
// test is skipped, except under CI=true, where it fails.
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (apt-get install chromium)")
		}
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.Headless,
		chromedp.WindowSize(1400, 1000), chromedp.Flag("disable-gpu", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				problems = append(problems, "console error")
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	return ctx, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), problems...) }
}

// artifact writes a screenshot where CI keeps test artifacts
// (RESTAUTH_ARTIFACTS, default a folder in the temp dir).
func artifact(t *testing.T, name string, png []byte) {
	dir := os.Getenv("RESTAUTH_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "restauth-ui-artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// viewer serves the explorer as caddy rest-auth ui does, in front of the
// test Caddy's admin endpoint (a browser cannot navigate to Caddy's admin
// endpoint itself: its cross-site protection refuses a navigation).
func viewer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(caddyauth.UIViewer("localhost:2999", ln.Addr().String()))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return "http://" + ln.Addr().String()
}

// TestPolicyExplorer: the page in a real browser against a real Caddy
// with the demo's users and rules.
func TestPolicyExplorer(t *testing.T) {
	ctx, problems := browser(t)
	h := testkit.StartCaddy(t, `
		name demo
		users ../demo/users.toml
		resources ../demo/deployment.toml
		basic`)
	// a denial, which the page's denials table shows from the metrics
	h.Expect("a request without credentials", 401, false, h.Status("GET", "/scim2/Users"))
	page := viewer(t) + "/rest-auth/ui/"
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		must(err)
		return v
	}
	shoot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		must(err)
		artifact(t, name, png)
	}
	try := func(user string) {
		t.Helper()
		must(chromedp.Do(ctx,
			chromedp.SetValue(css(`#try input[name=path]`), "/scim2/Users"),
			chromedp.SetValue(css(`#try input[name=user]`), user),
			chromedp.Evaluate[chromedp.Void](`document.querySelector("#decision").replaceChildren()`),
			chromedp.Click(css(`#try button`)),
			chromedp.WaitVisible(css(`#verdict`)),
		))
	}
	must(chromedp.Do(ctx,
		chromedp.Navigate(page),
		chromedp.WaitVisible(css(`#rules tbody tr`)),
		// the tree opens two levels; one click shows identity under manage
		// (granted by admin through /permission; user-manager holds a
		// permission below it, which does not grant it)
		chromedp.Click(css(`li[data-path="/permission/admin/manage"] > .toggle`)),
		chromedp.WaitVisible(css(`li[data-path="/permission/admin/manage/identity"]`)),
	))
	treeText := text(`li[data-path="/permission/admin/manage/identity"] > .holders`)
	must(chromedp.Do(ctx, chromedp.WaitVisible(css(`#denials td.count`))))
	if d := text(`#denials tbody`); !strings.Contains(d, "cred.missing") {
		t.Errorf("denials table: %q", d)
	}
	shoot("explorer-tree.png")
	if !strings.Contains(treeText, "roles: admin") || strings.Contains(treeText, "user-manager") || strings.Contains(treeText, "$2") {
		t.Errorf("identity node holders: %q", treeText)
	}

	try("bob")
	verdict, decision := text(`#verdict`), text(`#decision`)
	shoot("explorer-bob-403.png")
	if !strings.HasPrefix(verdict, "403") || !strings.Contains(decision, "missing /permission/admin/manage/identity/usermgt/list") {
		t.Errorf("bob: %q / %q", verdict, decision)
	}

	try("alice")
	verdict, decision = text(`#verdict`), text(`#decision`)
	source := text(`#matched-source`)
	hit, err := chromedp.Run(ctx, chromedp.AttributeValue(css(`#rules tr.hit`), "id"))
	must(err)
	shoot("explorer-alice-200.png")
	if !strings.HasPrefix(verdict, "200") || !strings.HasSuffix(source, "deployment.toml:16") || hit.Value != "rule-2" ||
		!strings.Contains(decision, "role user-manager grants /permission/admin/manage/identity/usermgt/list through /permission/admin/manage/identity/usermgt") {
		t.Errorf("alice: %q, source %q, highlighted %q, %q", verdict, source, hit.Value, decision)
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("the page reported: %v", p)
	}
}

// TestPolicyExplorerLargeList: WSO2 IS 7's 439 rules render; the time is
// reported, not judged.
func TestPolicyExplorerLargeList(t *testing.T) {
	ctx, problems := browser(t)
	testkit.StartCaddy(t, `
		name is7
		users USERS
		resources ../permissions/testdata/corpus/wso2-is7-v2-access-control.toml
		basic`)
	start := time.Now()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(viewer(t)+"/rest-auth/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`#rule-439`))); err != nil {
		t.Fatal(err)
	}
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#rules tbody tr").length`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("439 rules rendered %v after navigation (the browser's start excluded)", time.Since(start).Round(time.Millisecond))
	if rows != 439 {
		t.Errorf("%d rows, want 439", rows)
	}
	if p := problems(); len(p) > 0 {
		t.Errorf("the page reported: %v", p)
	}
}

// TestUIViewerPasses: the viewer passes on the three read calls only,
// with the admin's origin, and answers only its own address.
func TestUIViewerPasses(t *testing.T) {
	var got []string
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path+" origin="+r.Header.Get("Origin"))
		w.Write([]byte(`{}`))
	}))
	defer admin.Close()
	adminAddr := strings.TrimPrefix(admin.URL, "http://")
	v := caddyauth.UIViewer(adminAddr, "127.0.0.1:2020")
	send := func(method, path, host string, hdr ...string) int {
		r := httptest.NewRequest(method, "http://127.0.0.1:2020"+path, strings.NewReader("{}"))
		r.Host = host
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		v.ServeHTTP(w, r)
		return w.Code
	}
	for _, c := range []struct {
		method, path, host string
		hdr                []string
		want               int
	}{
		{"GET", "/rest-auth/", "127.0.0.1:2020", nil, 200},
		{"POST", "/rest-auth/check", "127.0.0.1:2020", nil, 200},
		{"GET", "/metrics", "127.0.0.1:2020", nil, 200},
		{"GET", "/rest-auth/ui/app.js", "127.0.0.1:2020", nil, 200},
		{"POST", "/rest-auth/reload", "127.0.0.1:2020", nil, 404},
		{"POST", "/load", "127.0.0.1:2020", nil, 404},
		{"GET", "/config/", "127.0.0.1:2020", nil, 404},
		{"GET", "/rest-auth/", "evil.example:2020", nil, 403},
		{"POST", "/rest-auth/check", "127.0.0.1:2020", []string{"Sec-Fetch-Site", "cross-site"}, 403},
	} {
		if code := send(c.method, c.path, c.host, c.hdr...); code != c.want {
			t.Errorf("%s %s (Host %s): %d, want %d", c.method, c.path, c.host, code, c.want)
		}
	}
	want := []string{"GET /rest-auth/ origin=http://" + adminAddr, "POST /rest-auth/check origin=http://" + adminAddr, "GET /metrics origin=http://" + adminAddr}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the admin endpoint saw:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// the admin endpoint itself serves the page, read-only, with a strict CSP
	testkit.StartCaddy(t, "users USERS\nresources RESOURCES")
	req, _ := http.NewRequest("GET", testkit.AdminURL+"/rest-auth/ui/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("admin /rest-auth/ui/: %d %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	if code, _ := testkit.AdminCall(t, "POST", "/rest-auth/ui/", ""); code != 405 {
		t.Errorf("POST to the page: %d, want 405", code)
	}
}
