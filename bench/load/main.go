// Command load is a small keep-alive HTTP load generator for what wrk
// cannot do: present a TLS client certificate. It prints wrk's summary
// lines (Requests/sec, the 50% and 99% latencies), so bench/wrk.sh reads
// both alike.
//
//	go run ./bench/load -url https://localhost:9205/ -c 16 -d 10s -cert c.pem -key c.key -ca root.pem
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to load")
	conns := flag.Int("c", 16, "connections")
	dur := flag.Duration("d", 10*time.Second, "duration")
	cert := flag.String("cert", "", "client certificate (PEM, with chain)")
	key := flag.String("key", "", "client key (PEM)")
	ca := flag.String("ca", "", "CA to trust for the server (PEM)")
	flag.Parse()
	cfg := &tls.Config{}
	if *ca != "" {
		pem, err := os.ReadFile(*ca)
		if err != nil {
			fail(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		cfg.RootCAs = pool
	}
	if *cert != "" {
		c, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			fail(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	var total, errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	deadline := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}}
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t0 := time.Now()
				resp, err := client.Get(*url)
				if err != nil {
					errs.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mine = append(mine, time.Since(t0))
				total.Add(1)
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(p*float64(len(lat)-1))]
	}
	fmt.Printf("  %d requests in %s, %d errors\n", total.Load(), *dur, errs.Load())
	fmt.Printf("Requests/sec: %.2f\n", float64(total.Load())/dur.Seconds())
	fmt.Printf("     50%%   %.2fms\n     99%%   %.2fms\n", float64(pct(0.50))/1e6, float64(pct(0.99))/1e6)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "load:", err)
	os.Exit(1)
}
