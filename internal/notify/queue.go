package notify

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/atomicfile"
)

// item is one pending delivery: an event for one sink. Its file in the
// queue directory is rewritten whole after each failed attempt and
// removed when the delivery ends.
type item struct {
	V          int       `json:"v"`
	Event      Event     `json:"event"`
	Sink       string    `json:"sink"`
	Enqueued   time.Time `json:"enqueued"`
	Attempts   int       `json:"attempts"`
	NextAt     time.Time `json:"next_at"`
	LastStatus int       `json:"last_status,omitempty"`
	LastError  string    `json:"last_error,omitempty"`

	seq  uint64
	file string
	busy bool // an attempt is in flight
}

// maxItemFile bounds a queue file read back.
const maxItemFile = 1 << 20

// queue is the pending deliveries, oldest first, one file each in dir.
type queue struct {
	dir   string
	items []*item
	seq   uint64 // the last sequence number given
}

// openQueue loads the deliveries left in dir (creating it), removing what
// a crash left half-written and setting aside files it cannot read.
func openQueue(dir string, log logrus.FieldLogger) (*queue, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	q := &queue{dir: dir}
	for _, ent := range ents {
		name := ent.Name()
		path := filepath.Join(dir, name)
		if atomicfile.IsTemp(name) {
			_ = os.Remove(path)
			continue
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		it, err := readItem(path)
		if err != nil {
			log.WithError(err).WithField("file", name).Error("notification queue: unreadable delivery set aside")
			_ = os.Rename(path, path+".bad")
			continue
		}
		q.items = append(q.items, it)
		q.seq = max(q.seq, it.seq)
	}
	slices.SortFunc(q.items, func(a, b *item) int { return cmp.Compare(a.seq, b.seq) })
	return q, nil
}

// readItem reads one queue file; its name starts with its sequence number.
func readItem(path string) (*item, error) {
	name := filepath.Base(path)
	num, _, _ := strings.Cut(name, "-")
	seq, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return nil, errors.New("name does not start with a sequence number")
	}
	data, _, err := atomicfile.ReadRegular(path, maxItemFile)
	if err != nil {
		return nil, err
	}
	it := &item{seq: seq, file: name}
	if err := json.Unmarshal(data, it); err != nil {
		return nil, err
	}
	if it.V != 1 || it.Sink == "" || it.Event.ID == "" {
		return nil, fmt.Errorf("not a version 1 delivery")
	}
	return it, nil
}

// add writes it durably and appends it.
func (q *queue) add(it *item) error {
	q.seq++
	it.V, it.seq = 1, q.seq
	it.file = fmt.Sprintf("%016d-%s-%s.json", it.seq, it.Sink, it.Event.ID)
	if err := q.save(it); err != nil {
		q.seq--
		return err
	}
	q.items = append(q.items, it)
	return nil
}

// save writes it's file anew.
func (q *queue) save(it *item) error {
	data, err := json.Marshal(it)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(q.dir, it.file), data, 0o600); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}

// remove drops it and removes its file durably.
func (q *queue) remove(it *item) error {
	q.items = slices.DeleteFunc(q.items, func(x *item) bool { return x == it })
	if err := os.Remove(filepath.Join(q.dir, it.file)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("queue: %w", err)
	}
	return atomicfile.SyncDir(q.dir)
}
