package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/proxmox"
	"templated/internal/state"
)

// Cluster is what a lease needs of Proxmox; proxmox.Client and
// proxmoxfake.Cluster implement it.
type Cluster interface {
	CreateGuest(ctx context.Context, node string, g proxmox.NewGuest) error
	GuestConfig(ctx context.Context, node string, vmid int) (state.GuestConfig, error)
	SetMetaIf(ctx context.Context, node string, vmid int, digest, description string, tags []string) error
	Delete(ctx context.Context, node string, vmid int) error
}

// Options say where the lease lives and who takes it.
type Options struct {
	Node string // node the lease guest lives on
	VMID int    // the lease VMID (the last of the staging range)
	// Holder is the installation's stable id.
	Holder string
	// Host and PID name the holder for people (default: this host, this
	// process).
	Host string
	PID  int
	// TTL is how long a lease lives without renewal (default 2 min).
	TTL time.Duration
	// Wait bounds how long Acquire waits for another installation's live
	// lease: 0 refuses at once, a negative Wait waits until ctx ends.
	Wait time.Duration
	// Poll is the pause between looks while waiting (default 2 s).
	Poll time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	Log logrus.FieldLogger
}

// createSettle bounds how long Acquire waits for a guest at the lease
// VMID that PVE is still creating (its config is only "lock: create"
// until the create task ends) before calling it someone else's.
const createSettle = 30 * time.Second

// takeoverTries bounds the compare-and-swap retries of one look.
const takeoverTries = 5

func (o Options) withDefaults() (Options, error) {
	if o.Node == "" || o.VMID < 100 || o.Holder == "" {
		return o, fmt.Errorf("lease options: node, VMID (>= 100) and holder are required")
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	if o.PID == 0 {
		o.PID = os.Getpid()
	}
	if o.TTL <= 0 {
		o.TTL = 2 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		o.Log = l
	}
	o.Log = o.Log.WithFields(logrus.Fields{"lease_vmid": o.VMID, "node": o.Node})
	return o, nil
}

// Lease is a held cluster lease. Its methods are safe for concurrent use.
type Lease struct {
	c    Cluster
	opts Options

	mu       sync.Mutex // serialises Renew and Release
	holder   Holder
	released bool

	lost     chan struct{}
	lostOnce sync.Once
	stop     chan struct{} // closed by Release: stops Keep
	stopOnce sync.Once
	kept     sync.WaitGroup
}

// Acquire takes the cluster lease at o.VMID on o.Node: it creates the
// lease guest; if the VMID is taken it reads what is there and
//   - takes over (compare-and-swap on the config digest) a lease that has
//     expired or that names this installation (a crashed earlier run),
//   - waits, polling every o.Poll for at most o.Wait, for another
//     installation's live lease, and then returns *HeldError naming it,
//   - returns an error matching ErrOccupied for any other guest.
func Acquire(ctx context.Context, c Cluster, o Options) (*Lease, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	id, err := newID()
	if err != nil {
		return nil, fmt.Errorf("acquire cluster lease: %w", err)
	}
	a := &acquirer{c: c, o: o, id: id, start: o.Now()}
	h, err := a.run(ctx)
	if err != nil {
		return nil, fmt.Errorf("acquire cluster lease: %w", err)
	}
	o.Log.WithFields(logrus.Fields{"installation": h.Installation, "lease_id": h.ID, "expires": h.Expires}).Info("cluster lease acquired")
	return &Lease{c: c, opts: o, holder: h, lost: make(chan struct{}), stop: make(chan struct{})}, nil
}

// seconds is t as the description carries it: UTC, whole seconds (a
// lease's expiry is rounded down, never up).
func seconds(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

func newID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("lease id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// acquirer is one Acquire call's state.
type acquirer struct {
	c        Cluster
	o        Options
	id       string
	start    time.Time
	waitLog  bool
	notFound int
}

func (a *acquirer) holder() Holder {
	now := a.o.Now()
	return Holder{Installation: a.o.Holder, Host: a.o.Host, PID: a.o.PID, ID: a.id, Acquired: seconds(now), Expires: seconds(now.Add(a.o.TTL))}
}

func (a *acquirer) run(ctx context.Context) (Holder, error) {
	for {
		h := a.holder()
		err := a.c.CreateGuest(ctx, a.o.Node, proxmox.NewGuest{VMID: a.o.VMID, Name: Name, Description: h.Description(), Tags: []string{Tag}})
		if err == nil {
			return h, nil
		}
		if !errors.Is(err, proxmox.ErrExists) {
			return Holder{}, err
		}
		h, done, err := a.look(ctx)
		if done || err != nil {
			return h, err
		}
	}
}

// look examines the guest at the lease VMID and takes it over, waits or
// refuses. done with a nil error means h is ours; not done means try
// creating again.
func (a *acquirer) look(ctx context.Context) (h Holder, done bool, err error) {
	for range takeoverTries {
		gc, err := a.c.GuestConfig(ctx, a.o.Node, a.o.VMID)
		if errors.Is(err, proxmox.ErrNotFound) {
			// Released since the create failed, or on another node.
			if a.notFound++; a.notFound > 3 {
				return Holder{}, false, &occupiedError{vmid: a.o.VMID, what: "a guest on another node than " + a.o.Node}
			}
			return Holder{}, false, nil
		}
		if err != nil {
			return Holder{}, false, err
		}
		a.notFound = 0
		other, isLease := ParseHolder(gc.Description)
		switch {
		case !isLease && gc.Lock == "create" && a.o.Now().Sub(a.start) < createSettle:
			return Holder{}, false, a.sleep(ctx, a.o.Poll/4)
		case !isLease || gc.Template:
			return Holder{}, false, &occupiedError{vmid: a.o.VMID, what: describe(gc)}
		case other.Installation != a.o.Holder && !other.Expired(a.o.Now()):
			return Holder{}, false, a.wait(ctx, other)
		}
		mine := a.holder()
		err = a.c.SetMetaIf(ctx, a.o.Node, a.o.VMID, gc.Digest, mine.Description(), []string{Tag})
		switch {
		case err == nil:
			why := "it expired"
			if other.Installation == a.o.Holder {
				why = "an earlier run of this installation left it"
			}
			a.o.Log.WithFields(logrus.Fields{"previous": other.String(), "why": why}).Warn("cluster lease taken over")
			return mine, true, nil
		case errors.Is(err, proxmox.ErrModified):
			continue // someone else changed it first: look again
		case errors.Is(err, proxmox.ErrNotFound):
			return Holder{}, false, nil
		case errors.Is(err, proxmox.ErrLocked):
			return Holder{}, false, a.sleep(ctx, a.o.Poll/4)
		default:
			return Holder{}, false, err
		}
	}
	return Holder{}, false, nil
}

// wait pauses for another's live lease, or refuses when o.Wait is spent.
func (a *acquirer) wait(ctx context.Context, other Holder) error {
	waited := a.o.Now().Sub(a.start)
	if a.o.Wait >= 0 && waited >= a.o.Wait {
		return &HeldError{VMID: a.o.VMID, Holder: other, Waited: waited}
	}
	if !a.waitLog {
		a.waitLog = true
		a.o.Log.WithField("holder", other.String()).Info("waiting for the cluster lease")
	}
	d := a.o.Poll
	if a.o.Wait >= 0 {
		d = min(d, a.o.Wait-waited)
	}
	return a.sleep(ctx, d)
}

func (a *acquirer) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// describe names a guest that is not a lease, for people.
func describe(gc state.GuestConfig) string {
	kind := "VM"
	if gc.Template {
		kind = "template"
	}
	if gc.Name == "" {
		return kind + " " + strconv.Itoa(gc.VMID)
	}
	return fmt.Sprintf("%s %q", kind, gc.Name)
}
