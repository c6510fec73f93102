package proxmox

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error the Client (and proxmoxfake) returns for one of
// these situations matches the sentinel with errors.Is; the message itself says
// what to do about it.
var (
	// ErrUnreachable: no HTTP answer at all (DNS, refused, reset, dropped).
	ErrUnreachable = errors.New("proxmox unreachable")
	// ErrTLS: the TLS handshake failed, usually an unknown CA.
	ErrTLS = errors.New("proxmox TLS verification failed")
	// ErrAuth: PVE answered 401 (token wrong, expired or revoked).
	ErrAuth = errors.New("proxmox authentication failed")
	// ErrPermission: PVE answered 403 (token lacks a privilege).
	ErrPermission = errors.New("proxmox permission denied")
	// ErrNotFound: the guest does not exist (on that node).
	ErrNotFound = errors.New("guest not found")
	// ErrExists: the target VMID is already taken.
	ErrExists = errors.New("guest already exists")
	// ErrLocked: the guest config is locked by another operation.
	ErrLocked = errors.New("guest locked")
	// ErrConflict: the guest is in the wrong state for the operation
	// (converting a template or a running VM, deleting a template that
	// linked clones still use, ...).
	ErrConflict = errors.New("guest in wrong state")
	// ErrModified: a change made with a config digest (compare-and-swap)
	// was refused because the config changed since it was read; re-read it
	// and decide again.
	ErrModified = errors.New("guest config changed since it was read")
	// ErrInvalid: the request was rejected before it was sent (bad tag,
	// bad name) or PVE answered 400.
	ErrInvalid = errors.New("invalid request")
	// ErrTimeout: the call outlived its deadline. Errors of this kind also
	// match context.DeadlineExceeded.
	ErrTimeout = errors.New("proxmox call timed out")
	// ErrTaskFailed: a PVE task ended with an error exit status (the
	// error also unwraps to *state.TaskError). Tasks failing for a lock
	// match ErrLocked instead, and so on.
	ErrTaskFailed = errors.New("proxmox task failed")
	// ErrAPI: any other error answer from PVE.
	ErrAPI = errors.New("proxmox API error")
	// ErrUnexpected: PVE's answer could not be understood (the client
	// library panicked or the JSON had an unexpected shape).
	ErrUnexpected = errors.New("unexpected answer from proxmox")
)

// Error is a classified failure of one Proxmox call. Msg is complete and
// actionable; Kind is one of the sentinels above; Err is the cause.
type Error struct {
	Kind   error
	Status int    // HTTP status PVE answered, 0 if none
	Msg    string // full message, never contains the token secret
	Err    error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the cause (a *pxapi.ApiError, a net error, ...).
func (e *Error) Unwrap() error { return e.Err }

// Is matches the error's Kind (and context.DeadlineExceeded for ErrTimeout).
func (e *Error) Is(target error) bool {
	if target == e.Kind {
		return true
	}
	return e.Kind == ErrTimeout && target == context.DeadlineExceeded
}

// NewError builds a classified error; proxmoxfake uses it so that both
// implementations fail alike.
func NewError(kind error, status int, format string, args ...any) *Error {
	return &Error{Kind: kind, Status: status, Msg: fmt.Sprintf(format, args...)}
}

// kindForMessage classifies a PVE error message (HTTP 500 bodies say what
// went wrong only in text).
func kindForMessage(status int, msg string) error {
	m := strings.ToLower(msg)
	switch {
	case status == 401:
		return ErrAuth
	case status == 403:
		return ErrPermission
	case status == 400:
		return ErrInvalid
	case strings.Contains(m, "does not exist") || strings.Contains(m, "no such vm"):
		return ErrNotFound
	case strings.Contains(m, "checksum mismatch") || strings.Contains(m, "checksum missmatch") ||
		strings.Contains(m, "file change by other user") || strings.Contains(m, "file changed by other user"):
		return ErrModified
	case strings.Contains(m, "already exists"):
		return ErrExists
	case strings.Contains(m, "is locked") || strings.Contains(m, "locked ("):
		return ErrLocked
	case strings.Contains(m, "you can't convert") || strings.Contains(m, "is running") ||
		strings.Contains(m, "is a template") || strings.Contains(m, "still in use by linked clone"):
		return ErrConflict
	}
	return ErrAPI
}
