package gitsource

import (
	"errors"
	"time"

	"github.com/sirupsen/logrus"
)

// SyncResult is what one Sync did.
type SyncResult struct {
	// Fetched is true when the fetch succeeded.
	Fetched bool
	// Revision is the revision the ref resolved to (the one in force when
	// it did not change).
	Revision Revision
	// Changed is true when a new revision was put in force.
	Changed bool
	// Refused is set when the fetched revision was refused.
	Refused *Event
}

// Status is the source's state for /status.
type Status struct {
	URL, Ref string
	// Current is the revision in force (nil: none yet).
	Current *Revision
	// LastFetch is when the last fetch ended, LastFetchOK whether it
	// succeeded, LastError why not (bounded, credential-free).
	LastFetch   time.Time
	LastFetchOK bool
	LastError   string
	// ConsecutiveFailures counts the fetches failed since the last success.
	ConsecutiveFailures int
	// Refused is the newest refusal still standing (cleared when a newer
	// revision is accepted, or the remote returns to the one in force).
	Refused *Event
}

// Status returns a copy of the source's state.
func (s *Source) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	if st.Current != nil {
		c := *st.Current
		st.Current = &c
	}
	if st.Refused != nil {
		r := *st.Refused
		st.Refused = &r
	}
	return st
}

func (s *Source) current() *Revision {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil
	}
	c := *s.cur
	return &c
}

func (s *Source) clearRefused() {
	s.mu.Lock()
	s.status.Refused = nil
	s.mu.Unlock()
}

// fetchOK notes a successful fetch and returns its time.
func (s *Source) fetchOK() time.Time {
	now := s.now()
	s.mu.Lock()
	s.status.LastFetch, s.status.LastFetchOK, s.status.LastError = now, true, ""
	s.status.ConsecutiveFailures = 0
	s.mu.Unlock()
	s.m.fetched(now, true)
	return now
}

// fetchFailed notes a failed fetch and returns its error as it may be
// shown: no credentials, bounded.
func (s *Source) fetchFailed(err error) error {
	now, text := s.now(), s.errorText(err)
	s.mu.Lock()
	s.status.LastFetch, s.status.LastFetchOK, s.status.LastError = now, false, text
	s.status.ConsecutiveFailures++
	n := s.status.ConsecutiveFailures
	s.mu.Unlock()
	s.m.fetched(now, false)
	s.log.WithFields(logrus.Fields{"error": text, "failures": n}).Warn("git source: fetch failed")
	return errors.New(text)
}
