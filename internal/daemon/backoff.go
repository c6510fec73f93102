package daemon

import (
	"math/rand/v2"
	"time"
)

// backoff hands out retry delays: the n-th consecutive failure waits a
// random duration in [d/2, d], d = min(Initial·2ⁿ, Max) ("equal jitter":
// retries of several daemons spread out, yet never come sooner than half
// the nominal delay).
type backoff struct {
	cfg Backoff
	n   int
	// int64n returns a random number in [0, n); tests replace it.
	int64n func(n int64) int64
}

func newBackoff(cfg Backoff) *backoff {
	return &backoff{cfg: cfg, int64n: rand.Int64N}
}

// ceiling is the nominal delay of the next retry, before jitter.
func (b *backoff) ceiling() time.Duration {
	d := b.cfg.Initial
	for i := 0; i < b.n && d < b.cfg.Max; i++ {
		d *= 2
	}
	return min(d, b.cfg.Max)
}

// next returns the delay before the next retry and counts the failure.
func (b *backoff) next() time.Duration {
	d := b.ceiling()
	b.n++
	half := d / 2
	return half + time.Duration(b.int64n(int64(d-half)+1))
}

// reset forgets earlier failures.
func (b *backoff) reset() { b.n = 0 }
