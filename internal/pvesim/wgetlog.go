package pvesim

import (
	"fmt"
	"strings"
	"time"
)

// wget's dot:giga progress: a dot per MiB, 8 to a group, 32 (32 MiB) to
// a line: "     0K ........ ........ ........ ........ 47%  384M 0s".
const (
	dotBytes  = 1 << 20
	lineBytes = 32 * dotBytes
)

// dots writes wget's progress lines as bytes arrive.
type dots struct {
	total     int64 // Content-Length, -1 when unknown
	done      int64
	lineStart int64 // bytes before the current line
	start     time.Time
	lineTime  time.Time
	logf      func(string)
}

func newDots(total int64, logf func(string)) *dots {
	now := time.Now()
	return &dots{total: total, start: now, lineTime: now, logf: logf}
}

func (p *dots) add(n int64) {
	p.done += n
	for p.done-p.lineStart >= lineBytes {
		p.line(p.lineStart+lineBytes, false)
	}
}

// finish writes the last, partial line (complete: "=" and the total time
// instead of the time left).
func (p *dots) finish(complete bool) {
	if p.done > p.lineStart || p.done == 0 {
		p.line(p.done, complete)
	}
}

func (p *dots) line(upTo int64, last bool) {
	now := time.Now()
	var b strings.Builder
	fmt.Fprintf(&b, "%6dK", p.lineStart>>10)
	n := int((upTo - p.lineStart) / dotBytes)
	for i := 0; i < 32; i++ {
		if i%8 == 0 {
			b.WriteByte(' ')
		}
		if i < n {
			b.WriteByte('.')
		} else {
			b.WriteByte(' ')
		}
	}
	if p.total > 0 {
		fmt.Fprintf(&b, "%3d%%", upTo*100/p.total)
	}
	fmt.Fprintf(&b, " %5s", shortRate(float64(upTo-p.lineStart)/seconds(now.Sub(p.lineTime))))
	switch {
	case last:
		b.WriteString("=" + elapsed(now.Sub(p.start)))
	case p.total > 0:
		avg := float64(upTo) / seconds(now.Sub(p.start))
		b.WriteString(" " + eta(time.Duration(float64(p.total-upTo)/avg*float64(time.Second))))
	}
	p.logf(b.String())
	p.lineStart, p.lineTime = upTo, now
}

// rate is the average speed so far, as wget's summary line has it
// ("271 MB/s").
func (p *dots) rate() string {
	v, unit := scaled(float64(p.done) / seconds(time.Since(p.start)))
	return precise(v) + " " + unit + "B/s"
}

func seconds(d time.Duration) float64 { return max(d.Seconds(), 1e-6) }

// scaled divides v by 1024 until it is below 1024, returning the unit
// letter ("", K, M, G, T).
func scaled(v float64) (float64, string) {
	units := []string{"", "K", "M", "G", "T"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return v, units[i]
}

// precise prints as wget does: 2 decimals below 10, 1 below 100, else 0.
func precise(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// shortRate is a progress line's speed ("384M", "1.66G", "0.50K").
func shortRate(bps float64) string {
	v, unit := scaled(bps)
	if unit == "" {
		v, unit = v/1024, "K"
	}
	return precise(v) + unit
}

// elapsed prints a duration as wget's progress does ("0.2s", "12s",
// "1m3s", "1h2m").
func elapsed(d time.Duration) string {
	s := d.Seconds()
	switch {
	case s < 10:
		return fmt.Sprintf("%.1fs", s)
	case s < 60:
		return fmt.Sprintf("%ds", int(s))
	case s < 3600:
		return fmt.Sprintf("%dm%ds", int(s)/60, int(s)%60)
	}
	return fmt.Sprintf("%dh%dm", int(s)/3600, int(s)%3600/60)
}

// eta prints the time left in whole units ("0s", "12s", "1m3s", "1h2m").
func eta(d time.Duration) string {
	s := int(d.Seconds())
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%dm", s/3600, s%3600/60)
}

// lengthLine is wget's "Length: 70000000 (67M) [application/octet-stream]".
func lengthLine(length int64, ctype string) string {
	out := "Length: unspecified"
	if length >= 0 {
		out = fmt.Sprintf("Length: %d", length)
		if length >= 1024 {
			v, unit := scaled(float64(length))
			h := fmt.Sprintf("%.0f%s", v, unit)
			if v < 10 {
				h = fmt.Sprintf("%.1f%s", v, unit)
			}
			out += " (" + h + ")"
		}
	}
	if ctype != "" {
		out += " [" + ctype + "]"
	}
	return out
}
