// Package contrib holds what templated ships for others' tools: the
// Prometheus alerting rules (prometheus/alerts.yaml) and the Grafana
// dashboard (grafana/templated.json). It has no code; its tests parse the
// rules and the dashboard with Prometheus's own parsers and hold every
// metric and label they name to what the daemon and the git source export.
package contrib
