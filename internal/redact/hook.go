package redact

import (
	"errors"

	"github.com/sirupsen/logrus"
)

// MaxLogValue bounds a log message or field.
const MaxLogValue = 4 << 10

// Hook is a logrus hook that redacts and bounds every entry's message and
// string and error fields before any formatter sees them.
type Hook struct{ Secrets *Secrets }

// Levels implements logrus.Hook: every level.
func (Hook) Levels() []logrus.Level { return logrus.AllLevels }

// Fire implements logrus.Hook.
func (h Hook) Fire(e *logrus.Entry) error {
	e.Message = Bound(h.Secrets.String(e.Message), MaxLogValue)
	if len(e.Data) == 0 {
		return nil
	}
	// The entry's Data may be shared with the logger it came from: write
	// a copy.
	data := make(logrus.Fields, len(e.Data))
	for k, v := range e.Data {
		switch x := v.(type) {
		case string:
			v = Bound(h.Secrets.String(x), MaxLogValue)
		case error:
			v = errors.New(Bound(h.Secrets.String(x.Error()), MaxLogValue))
		}
		data[k] = v
	}
	e.Data = data
	return nil
}
