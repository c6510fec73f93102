// Package reconcile owns the decision and its execution: Plan, a pure
// function from desired state, observed state and the time to a list of
// actions that each carry their reasons, and the executor that carries a
// plan out against a Cluster, recording every step.
//
// Plan never does I/O. Observing the cluster (Observe) and acting on it
// (Executor) are separate, so that `templated plan` can show exactly what
// `templated apply` would do without touching anything.
package reconcile
