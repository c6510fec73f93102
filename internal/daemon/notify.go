package daemon

import (
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"github.com/sirupsen/logrus"
)

// Notifier tells the service manager about the daemon's state.
type Notifier interface {
	// Ready says the daemon is up (READY=1).
	Ready()
	// Status is a one-line description of what it does (STATUS=...).
	Status(line string)
	// Watchdog says the daemon is alive (WATCHDOG=1).
	Watchdog()
}

// SystemdNotifier talks sd_notify to systemd. Without NOTIFY_SOCKET (not
// started by systemd with Type=notify) it does nothing.
type SystemdNotifier struct {
	Log logrus.FieldLogger
}

var _ Notifier = (*SystemdNotifier)(nil)

func (n *SystemdNotifier) send(state string) {
	if _, err := sd.SdNotify(false, state); err != nil && n.Log != nil {
		n.Log.WithError(err).WithField("state", state).Warn("sd_notify failed")
	}
}

// Ready sends READY=1.
func (n *SystemdNotifier) Ready() { n.send(sd.SdNotifyReady) }

// Status sends STATUS=line.
func (n *SystemdNotifier) Status(line string) { n.send("STATUS=" + line) }

// Watchdog sends WATCHDOG=1.
func (n *SystemdNotifier) Watchdog() { n.send(sd.SdNotifyWatchdog) }

// Stopping sends STOPPING=1.
func (n *SystemdNotifier) Stopping() { n.send(sd.SdNotifyStopping) }

// WatchdogInterval is half of WATCHDOG_USEC, or 0 when systemd does not
// expect watchdog pings from this process.
func (n *SystemdNotifier) WatchdogInterval() time.Duration {
	d, err := sd.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}

// watchdogInterval asks n for its ping interval when it has one.
func watchdogInterval(n Notifier) time.Duration {
	if w, ok := n.(interface{ WatchdogInterval() time.Duration }); ok {
		return w.WatchdogInterval()
	}
	return 0
}

// notifyStopping sends STOPPING=1 when n can.
func notifyStopping(n Notifier) {
	if s, ok := n.(interface{ Stopping() }); ok {
		s.Stopping()
	}
}
