package image

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/sirupsen/logrus"
)

// Resolved is the checksum a vendor's checksum file gives for an image.
type Resolved struct {
	// File is the entry's name (the pattern's pick, for a pattern).
	File     string
	Checksum Checksum
	// Size is the byte count the file states, 0 when it states none.
	Size int64
	// SumsURL is the checksum file's URL as SafeURL gives it.
	SumsURL string
	// FetchedAt is when the server last sent or confirmed the file.
	FetchedAt time.Time
	// FromCache says no new body was read for this call.
	FromCache bool
}

// Resolve fetches the checksum file at sumsURL (see Get) and looks name,
// a file name or a pattern, up in it (see Lookup). When name is missing
// and the file had unreadable lines, the error says so.
func (f *Fetcher) Resolve(ctx context.Context, sumsURL, name string) (Resolved, error) {
	c, info, err := f.get(ctx, sumsURL)
	if err != nil {
		return Resolved{}, fmt.Errorf("resolve %s: %w", name, err)
	}
	safe := sumsURL
	if u, err := url.Parse(sumsURL); err == nil { // get parsed it already
		safe = SafeURL(u)
	}
	l, err := c.listing()
	if err != nil {
		return Resolved{}, fmt.Errorf("resolve %s: read %s: %w", name, safe, err)
	}
	e, err := Lookup(l.Entries, name)
	if err != nil {
		if errors.Is(err, ErrNotFound) && len(l.Skipped) > 0 {
			err = fmt.Errorf("%w; %d unreadable lines were skipped: %s", err, len(l.Skipped), lineErrors(l.Skipped, 3))
		}
		return Resolved{}, fmt.Errorf("resolve %s in %s: %w", name, safe, err)
	}
	if len(l.Skipped) > 0 {
		f.Log.WithFields(logrus.Fields{"url": safe, "skipped": len(l.Skipped), "first": l.Skipped[0].Error()}).
			Debug("checksum file has unreadable lines")
	}
	return Resolved{
		File: e.Name, Checksum: e.Checksum, Size: e.Size, SumsURL: safe,
		FetchedAt: info.FetchedAt, FromCache: info.FromCache,
	}, nil
}
