// Package plan owns the plan as a value: the actions templated will take on
// each desired template and the reasons for each, and its two renderings,
// the human one `templated plan` prints (Terraform's symbols) and the JSON
// one (docs/plan-json.md) scripts and the ledger read. reconcile.Plan makes
// plans; this package only describes them.
package plan
