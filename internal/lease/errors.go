package lease

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrLost: the lease no longer names this holder (another
	// installation took it over after it expired, or someone deleted or
	// rewrote the lease guest), or it ran out before a renewal got through.
	ErrLost = errors.New("cluster lease lost")
	// ErrOccupied: the lease VMID holds a guest that is not a lease.
	ErrOccupied = errors.New("lease VMID taken by another guest")
)

// HeldError is Acquire's answer when another installation holds a live
// lease (after waiting Options.Wait, if set).
type HeldError struct {
	VMID   int
	Holder Holder
	Waited time.Duration
}

func (e *HeldError) Error() string {
	waited := ""
	if e.Waited > 0 {
		waited = fmt.Sprintf(" (waited %s)", e.Waited.Round(time.Second))
	}
	return fmt.Sprintf("cluster lease at VMID %d is held by %s%s: another templated installation is acting on this cluster; "+
		"try again later, or if that installation is gone, wait until the lease expires", e.VMID, e.Holder, waited)
}

// occupiedError is ErrOccupied for one guest.
type occupiedError struct {
	vmid int
	what string
}

func (e *occupiedError) Error() string {
	return fmt.Sprintf("VMID %d holds %s; the lease needs it: free it or choose another", e.vmid, e.what)
}

func (e *occupiedError) Is(target error) bool { return target == ErrOccupied }
