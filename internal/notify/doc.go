// Package notify owns how templated tells people what happened: the
// notification event and its versioned JSON schema
// (templated.notification/v1), the sinks that carry it (a signed generic
// webhook, Slack-compatible and Microsoft Teams webhooks, ntfy, Gotify),
// the routing of events to sinks as the desired file's notifications
// section says, grouping of repeated identical events, and a durable,
// bounded queue of deliveries retried with backoff across daemon
// restarts.
//
// A reconcile only enqueues (Dispatcher.Notify writes one small file per
// delivery and never waits on the network); Dispatcher.Run delivers in the
// background. Secrets (webhook URLs, signing keys, tokens) are looked up
// through a Secrets the caller supplies and never appear in an event, an
// error, a log line or a Delivery handed to the Recorder, which records
// each delivery and each give-up (session writes them to the ledger).
// See docs/notifications.md.
package notify
