package caddyauth

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Denial logging modes (log_denials).
const (
	logDenialsSampled = "sampled"
	logDenialsAll     = "all"
	logDenialsOff     = "off"
)

// Default sampling: per reason and second, the first 10 denials are
// logged whole, then one in 1,000. Ten lines a second show the shape of
// any ordinary trouble (a client with a wrong password, a user without a
// permission) in full; a flood of 10,000 a second writes 20 lines and one
// summary instead of 10,000, and the summary and the metrics keep the
// exact count.
const (
	defaultLogFirst      = 10
	defaultLogThereafter = 1000
)

// denialLog writes one handler's "request denied" lines, sampled per
// reason so that a flood of unauthenticated or forged requests is not a
// flood of disk writes. What it does not write it counts, and a summary
// line each second says how many lines of each reason were suppressed;
// the metrics count every denial regardless. Rare security events (a
// reused refresh token, a key set that cannot be fetched, a directory
// down) are logged where they happen, never through this sampler.
type denialLog struct {
	logger     *zap.Logger
	handler    string
	mode       string
	first      int64
	thereafter int64
	reasons    sync.Map // reason -> *reasonCount
	stop, done chan struct{}
	closing    sync.Once
}

// reasonCount counts one reason's denials in the current second.
type reasonCount struct {
	second     atomic.Int64 // unix second the count is for
	n          atomic.Int64 // denials seen in that second
	suppressed atomic.Int64 // denials not logged since the last summary
}

func newDenialLog(logger *zap.Logger, handler, mode string, first, thereafter int) *denialLog {
	l := &denialLog{logger: logger, handler: handler, mode: mode, first: int64(first), thereafter: int64(thereafter)}
	if l.mode == "" {
		l.mode = logDenialsSampled
	}
	if l.first <= 0 {
		l.first = defaultLogFirst
	}
	if l.thereafter <= 0 {
		l.thereafter = defaultLogThereafter
	}
	if l.mode == logDenialsSampled {
		l.stop, l.done = make(chan struct{}), make(chan struct{})
		go l.summarize()
	}
	return l
}

// allow reports whether a denial of this reason is logged now; when not,
// it is counted for the next summary.
func (l *denialLog) allow(reason string) bool {
	switch l.mode {
	case logDenialsAll:
		return true
	case logDenialsOff:
		return false
	}
	c := l.count(reason)
	now := time.Now().Unix()
	if s := c.second.Load(); s != now && c.second.CompareAndSwap(s, now) {
		c.n.Store(0)
	}
	n := c.n.Add(1)
	if n <= l.first || (n-l.first)%l.thereafter == 0 {
		return true
	}
	c.suppressed.Add(1)
	return false
}

func (l *denialLog) count(reason string) *reasonCount {
	if v, ok := l.reasons.Load(reason); ok {
		return v.(*reasonCount)
	}
	v, _ := l.reasons.LoadOrStore(reason, new(reasonCount))
	return v.(*reasonCount)
}

// summarize writes, each second, one line per reason with suppressed
// denials; on close it writes what is left.
func (l *denialLog) summarize() {
	defer close(l.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			l.flush()
			return
		case <-t.C:
			l.flush()
		}
	}
}

func (l *denialLog) flush() {
	l.reasons.Range(func(k, v any) bool {
		if n := v.(*reasonCount).suppressed.Swap(0); n > 0 {
			l.logger.Info("denials suppressed", zap.String("handler", l.handler), zap.String("reason", k.(string)),
				zap.Int64("suppressed", n), zap.String("sampling", fmt.Sprintf("first %d per second, then 1 in %d", l.first, l.thereafter)))
		}
		return true
	})
}

// close stops the summaries after writing the last one.
func (l *denialLog) close() {
	l.closing.Do(func() {
		if l.stop != nil {
			close(l.stop)
			<-l.done
		}
	})
}
