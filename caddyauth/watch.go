package caddyauth

import (
	"crypto/sha256"
	"os"
	"time"
)

// watcher polls a handler's users and resources files and reloads the
// handler when one changed and then stayed the same for one more interval
// (so an editor's half-written save is not loaded). Polling needs no
// platform support and sees files replaced by rename, as editors and
// configuration tools do.
type watcher struct {
	h        *Handler
	interval time.Duration
	quit     chan struct{}
	done     chan struct{}
}

func startWatcher(h *Handler, interval time.Duration) *watcher {
	if interval <= 0 {
		interval = time.Second
	}
	w := &watcher{h: h, interval: interval, quit: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *watcher) stop() {
	close(w.quit)
	<-w.done
}

func (w *watcher) files() []string {
	out := append(append([]string(nil), w.h.Users...), w.h.Resources...)
	for _, t := range w.h.Tenants {
		out = append(out, t.Users...)
	}
	return out
}

// fingerprint is a digest of the watched files' contents (a missing file
// counts as empty).
func (w *watcher) fingerprint() [32]byte {
	sum := sha256.New()
	for _, f := range w.files() {
		data, _ := os.ReadFile(f)
		d := sha256.Sum256(data)
		sum.Write([]byte(f))
		sum.Write(d[:])
	}
	var out [32]byte
	copy(out[:], sum.Sum(nil))
	return out
}

func (w *watcher) run() {
	defer close(w.done)
	loaded := w.fingerprint()
	pending := loaded
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-w.quit:
			return
		case <-t.C:
		}
		now := w.fingerprint()
		switch {
		case now == loaded:
			pending = now
		case now != pending:
			pending = now // changed: wait one more interval for it to settle
		default:
			// changed and settled; a failed reload is logged by Reload and
			// is not retried until the files change again
			_, _ = w.h.Reload()
			loaded = now
		}
	}
}
