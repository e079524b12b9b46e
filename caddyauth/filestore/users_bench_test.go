package filestore

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/restauth/caddy-restauth/caddyauth"
	"github.com/restauth/caddy-restauth/permissions"
)

// BenchmarkLoad100kUsers loads a users.toml of 100,000 users (ten roles,
// bcrypt hashes) into a store, as a reload does, and reports the time and
// the memory the process holds afterwards (heap in use, resident set).
//
//	go test ./caddyauth/filestore -run '^$' -bench Load100kUsers -benchtime 3x
func BenchmarkLoad100kUsers(b *testing.B) {
	// written straight to the file, so that making it leaves no garbage
	// behind to count as the load's
	path := filepath.Join(b.TempDir(), "users.toml")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for r := 0; r < 10; r++ {
		fmt.Fprintf(w, "[[roles]]\nname = \"role%d\"\npermissions = [\"/permission/admin/manage/r%d\"]\nscopes = [\"s%d\"]\n\n", r, r, r)
	}
	// one real cost-10 hash, repeated: loading parses hashes, it does not
	// check them, and making 100,000 would take hours
	const hash = "$2a$10$ZfPjv9Dc6areQN3W1oASBuh6GX92t5nEB5IHJ9UxRNIkjXj5IKoLy"
	for u := 0; u < 100000; u++ {
		fmt.Fprintf(w, "[[users]]\nusername = \"user%06d\"\npassword = %q\nroles = [\"role%d\", \"role%d\"]\n\n", u, hash, u%10, (u+3)%10)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	debug.FreeOSMemory()
	var s caddyauth.Accounts
	var took time.Duration
	for i := 0; i < b.N; i++ {
		s = nil
		runtime.GC()
		t0 := time.Now()
		users, err := permissions.LoadUsers(path)
		if err != nil {
			b.Fatal(err)
		}
		if s, err = (&FileStore{}).Accounts(users, nil); err != nil {
			b.Fatal(err)
		}
		took = time.Since(t0)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(took.Seconds(), "load-s")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	b.ReportMetric(rssMiB(), "rss-MiB")
	runtime.KeepAlive(s)
}

// rssMiB reads the resident set size from /proc (0 elsewhere).
func rssMiB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
