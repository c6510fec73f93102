package main

import (
	"context"
	"path/filepath"
	"sync"

	"github.com/sirupsen/logrus"

	"templated/internal/notify"
	"templated/internal/state"
)

// daemonNotifications is the daemon's notification queue, configured from
// the desired file in force and the secrets it names.
type daemonNotifications struct {
	c    *common
	log  logrus.FieldLogger
	disp *notify.Dispatcher

	mu sync.Mutex
	n  *state.Notifications // the section last applied
}

// openNotifications opens the queue in <state>/notify (what was pending
// when the daemon stopped is delivered now); deliveries and give-ups go
// to rec. The sinks come with configure.
func openNotifications(c *common, rec notify.Recorder, installation string, log logrus.FieldLogger) (*daemonNotifications, error) {
	disp, err := notify.New(nil, notify.SecretMap{}, notify.Options{Dir: filepath.Join(c.stateDir, "notify"), Installation: installation,
		Recorder: rec, Log: log, Sink: notify.SinkOptions{UserAgent: "templated/" + version, Redact: &c.secrets}})
	if err != nil {
		return nil, err
	}
	return &daemonNotifications{c: c, log: log, disp: disp}, nil
}

// configure applies a desired file's notifications section (nil: none).
// A section whose secrets cannot be read keeps the previous sinks, and
// says so in the log: the desired file stays in force.
func (dn *daemonNotifications) configure(n *state.Notifications) {
	dn.mu.Lock()
	defer dn.mu.Unlock()
	var secrets notify.Secrets = notify.SecretMap{}
	if n != nil {
		s, err := dn.c.notifySecrets(n)
		if err != nil {
			dn.log.WithError(err).Error("notifications: secrets unreadable; the previous sinks stay")
			return
		}
		secrets = s
	}
	if err := dn.disp.Reconfigure(n, secrets); err != nil {
		dn.log.WithError(err).Error("notifications: the desired sinks cannot be used; the previous ones stay")
		return
	}
	dn.n = n
}

// reconfigure applies the last section again (SIGHUP: the env file and
// the credentials are read anew).
func (dn *daemonNotifications) reconfigure() {
	dn.mu.Lock()
	n := dn.n
	dn.mu.Unlock()
	dn.configure(n)
}

// load wraps the daemon's desired-file loader so that every desired state
// it reads brings its notifications section.
func (dn *daemonNotifications) load(load func(string) (*state.Desired, error)) func(string) (*state.Desired, error) {
	return func(path string) (*state.Desired, error) {
		d, err := load(path)
		if err == nil {
			dn.configure(d.Notifications)
		}
		return d, err
	}
}

// run delivers in the background until ctx ends, then closes the queue;
// the returned func waits for that.
func (dn *daemonNotifications) run(ctx context.Context) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := dn.disp.Run(ctx); err != nil {
			dn.log.WithError(err).Error("notifications stopped")
		}
	}()
	return func() {
		<-done
		if err := dn.disp.Close(); err != nil {
			dn.log.WithError(err).Warn("close the notification queue")
		}
	}
}
