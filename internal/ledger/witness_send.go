package ledger

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/mod/sumdb/tlog"
)

// WitnessOptions tune how checkpoints reach the configured witnesses.
// Append never waits for a witness: a background sender gets each new
// checkpoint to every witness, retries failures with backoff, and catches
// up with the newest checkpoint; Close waits for it at most CloseWait.
type WitnessOptions struct {
	Timeout    time.Duration // per request; default 5 s
	CloseWait  time.Duration // Close's last attempt; default 5 s
	Retry      time.Duration // first retry delay, doubling up to 5 min; default 2 s
	HTTPClient *http.Client  // default: a client with Timeout
}

// WitnessStatus is what the sender knows about one witness (for /metrics).
type WitnessStatus struct {
	Name        string    `json:"name"`
	URL         string    `json:"url"`
	Cosigned    int64     `json:"cosigned"` // newest size it cosigned in this process
	LastError   string    `json:"last_error,omitempty"`
	LastAttempt time.Time `json:"last_attempt"`
	// Larger is set when the witness has cosigned a larger tree than this
	// ledger: the ledger was truncated or rolled back.
	Larger int64 `json:"larger,omitempty"`
}

type witnessSender struct {
	mu       sync.Mutex
	ws       []WitnessConfig
	known    []int64 // size each witness knows, as far as we know
	status   []WitnessStatus
	note     []byte
	n        int64
	wake     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func (o *WitnessOptions) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.CloseWait <= 0 {
		o.CloseWait = 5 * time.Second
	}
	if o.Retry <= 0 {
		o.Retry = 2 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: o.Timeout}
	}
}

// startWitnesses starts the sender when witnesses are configured; a
// configuration it cannot read is logged, not fatal: appends go on.
func (l *Ledger) startWitnesses() {
	ws, err := ReadWitnesses(l.dir)
	if err != nil {
		l.log.WithError(err).Error("ledger: witnesses not used")
		return
	}
	if len(ws) == 0 {
		return
	}
	l.opts.Witnesses.defaults()
	s := &witnessSender{ws: ws, known: make([]int64, len(ws)), status: make([]WitnessStatus, len(ws)),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	for i, w := range ws {
		s.status[i] = WitnessStatus{Name: w.Name, URL: w.URL}
	}
	l.mu.Lock()
	l.witness = s
	note, n := bytes.Clone(l.lastNote), l.n
	l.mu.Unlock()
	go l.sendLoop(s)
	if note != nil {
		l.notifyWitnesses(note, n)
	}
}

// notifyWitnesses hands the newest checkpoint to the sender (never blocks).
func (l *Ledger) notifyWitnesses(note []byte, n int64) {
	s := l.witness
	if s == nil {
		return
	}
	s.mu.Lock()
	s.note, s.n = note, n
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// stopWitnesses makes one last bounded attempt and stops the sender.
func (l *Ledger) stopWitnesses() {
	s := l.witness
	if s == nil {
		return
	}
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

// WitnessStatus reports each configured witness (nil when none).
func (l *Ledger) WitnessStatus() []WitnessStatus {
	s := l.witness
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]WitnessStatus(nil), s.status...)
}

func (l *Ledger) sendLoop(s *witnessSender) {
	defer close(s.done)
	o := l.opts.Witnesses
	delay := o.Retry
	var retry <-chan time.Time
	for {
		select {
		case <-s.wake:
		case <-retry:
		case <-s.stop:
			ctx, cancel := context.WithTimeout(context.Background(), o.CloseWait)
			l.sendRound(ctx, s)
			cancel()
			return
		}
		if l.sendRound(context.Background(), s) {
			retry, delay = nil, o.Retry
			continue
		}
		retry = time.After(delay)
		delay = min(2*delay, 5*time.Minute)
	}
}

// sendRound sends the newest checkpoint to every witness that lacks it, in
// parallel, and reports whether none needs a retry.
func (l *Ledger) sendRound(ctx context.Context, s *witnessSender) bool {
	s.mu.Lock()
	note, n := s.note, s.n
	s.mu.Unlock()
	if note == nil {
		return true
	}
	var wg sync.WaitGroup
	ok := make([]bool, len(s.ws))
	for i, w := range s.ws {
		s.mu.Lock()
		done := s.status[i].Cosigned >= n || s.status[i].Larger > n
		old := s.known[i]
		s.mu.Unlock()
		if done {
			ok[i] = true
			continue
		}
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, l.opts.Witnesses.Timeout)
			defer cancel()
			lines, known, err := cosign(rctx, l.opts.Witnesses.HTTPClient, w, old, note, n, l.proveFrom(n))
			if err == nil {
				err = l.storeCosignatures(note, n, lines)
			}
			ok[i] = l.recordSend(s, i, n, known, err)
		})
	}
	wg.Wait()
	return !slices.Contains(ok, false)
}

// recordSend updates witness i's status after an attempt and logs failures.
func (l *Ledger) recordSend(s *witnessSender, i int, n, known int64, err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := &s.status[i]
	st.LastAttempt = time.Now()
	s.known[i] = known
	log := l.log.WithFields(logrus.Fields{"witness": st.Name, "url": st.URL, "size": n})
	var ce *ConflictError
	switch {
	case err == nil:
		st.Cosigned, st.LastError = n, ""
		return true
	case errors.As(err, &ce) && ce.Size > n:
		st.Larger, st.LastError = ce.Size, err.Error()
		log.WithField("witness_size", ce.Size).Error("ledger: a witness has cosigned a larger tree than this ledger: it was truncated or rolled back")
		return true // retrying cannot help; the next append tries again
	}
	st.LastError = err.Error()
	log.WithError(err).Warn("ledger: witness did not cosign the checkpoint; will retry")
	return false
}

// proveFrom returns consistency proofs to size n from the writer's tree.
func (l *Ledger) proveFrom(n int64) func(int64) (tlog.TreeProof, error) {
	return func(old int64) (tlog.TreeProof, error) {
		if old == 0 || old == n {
			return nil, nil
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.tree == nil || l.tree.f == nil {
			return nil, errors.New("ledger is closed")
		}
		return tlog.ProveTree(n, old, l.tree)
	}
}
