package lease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/proxmox"
)

// Holder returns the lease's holder as last written (Expires moves on
// with each renewal).
func (l *Lease) Holder() Holder {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holder
}

// Lost is closed when the lease is lost (see ErrLost); never by Release.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

func (l *Lease) markLost(why string) {
	l.lostOnce.Do(func() {
		l.opts.Log.WithField("why", why).Error("cluster lease lost")
		close(l.lost)
	})
}

// Renew moves the lease's expiry to now + TTL with a compare-and-swap on
// the lease guest's config digest. A lease that no longer names this
// holder gives an error matching ErrLost and closes Lost; other errors
// (Proxmox unreachable, ...) leave the lease as it was.
func (l *Lease) Renew(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("renew cluster lease: already released")
	}
	if err := l.renewLocked(ctx); err != nil {
		return fmt.Errorf("renew cluster lease: %w", err)
	}
	return nil
}

// renewLocked is Renew with l.mu held.
func (l *Lease) renewLocked(ctx context.Context) error {
	for range takeoverTries {
		gc, err := l.c.GuestConfig(ctx, l.opts.Node, l.opts.VMID)
		if errors.Is(err, proxmox.ErrNotFound) {
			return l.lose("the lease guest is gone")
		}
		if err != nil {
			return err
		}
		if h, ok := ParseHolder(gc.Description); !ok || h.ID != l.holder.ID {
			what := "it no longer is a lease"
			if ok {
				what = "it names " + h.String()
			}
			return l.lose(what)
		}
		next := l.holder
		next.Expires = seconds(l.opts.Now().Add(l.opts.TTL))
		err = l.c.SetMetaIf(ctx, l.opts.Node, l.opts.VMID, gc.Digest, next.Description(), []string{Tag})
		switch {
		case err == nil:
			l.holder = next
			return nil
		case errors.Is(err, proxmox.ErrModified):
			continue // changed since the read: whose is it now?
		case errors.Is(err, proxmox.ErrNotFound):
			return l.lose("the lease guest is gone")
		default:
			return err
		}
	}
	return fmt.Errorf("the lease guest at VMID %d keeps changing under every renewal", l.opts.VMID)
}

func (l *Lease) lose(why string) error {
	l.markLost(why)
	return fmt.Errorf("%w at VMID %d: %s", ErrLost, l.opts.VMID, why)
}

// Keep renews the lease every TTL/3 in the background until ctx ends,
// Release is called or the lease is lost. A renewal that fails for
// another reason is retried at the next tick; when the lease runs out
// before one succeeds (less than TTL/3 left), it counts as lost: another
// installation may take it over then. Call Keep once.
func (l *Lease) Keep(ctx context.Context) {
	l.kept.Add(1)
	go func() {
		defer l.kept.Done()
		t := time.NewTicker(l.opts.TTL / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.stop:
				return
			case <-l.lost:
				return
			case <-t.C:
			}
			err := l.Renew(ctx)
			switch {
			case err == nil, ctx.Err() != nil:
			case errors.Is(err, ErrLost):
				return
			default:
				left := l.Holder().Expires.Sub(l.opts.Now())
				l.opts.Log.WithFields(logrus.Fields{"error": err, "left": left.Round(time.Second).String()}).Warn("cluster lease not renewed")
				if left < l.opts.TTL/3 {
					l.markLost("it runs out before a renewal got through: " + err.Error())
					return
				}
			}
		}
	}()
}

// Guard returns a context that is canceled, with cause ErrLost, when the
// lease is lost: run the work the lease protects under it.
func (l *Lease) Guard(ctx context.Context) (context.Context, context.CancelFunc) {
	gctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-l.lost:
			cancel(fmt.Errorf("%w at VMID %d", ErrLost, l.opts.VMID))
		case <-gctx.Done():
		}
	}()
	return gctx, func() { cancel(context.Canceled) }
}

// Release stops Keep and deletes the lease guest if it still names this
// holder: it first renews (a compare-and-swap that proves the lease is
// still ours and gives the delete a full TTL), then deletes. A lease that
// is no longer ours is left alone and the error matches ErrLost. Release
// twice is a no-op.
func (l *Lease) Release(ctx context.Context) error {
	l.stopOnce.Do(func() { close(l.stop) })
	l.kept.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return nil
	}
	if err := l.renewLocked(ctx); err != nil {
		if errors.Is(err, ErrLost) {
			l.released = true
		}
		return fmt.Errorf("release cluster lease: %w", err)
	}
	if err := l.c.Delete(ctx, l.opts.Node, l.opts.VMID); err != nil && !errors.Is(err, proxmox.ErrNotFound) {
		return fmt.Errorf("release cluster lease: %w", err)
	}
	l.released = true
	l.opts.Log.Info("cluster lease released")
	return nil
}
