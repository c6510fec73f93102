// Package ledger owns templated's evidence: a tamper-evident, append-only
// ledger of every decision and build, and the per-build evidence folders it
// points to.
//
// On disk, under one directory (by default output/artifacts/infra/packer/):
//
//	ledger/entries.jsonl           one JSON entry per line, each bound to the
//	                               previous one by "prev" and signed ("sig")
//	ledger/checkpoint              latest signed checkpoint (C2SP signed note)
//	ledger/checkpoints/<N>.note    every checkpoint ever signed, write-once
//	ledger/quarantine/             torn tails moved aside by repair
//	ledger/tree.hashes             the writer's Merkle tree cache (not evidence)
//	ledger/ledger.vkey             the public verifier key (a hint only)
//	ledger/witnesses.json          witnesses (C2SP tlog-witness) to cosign
//	ledger/cosignatures/<N>.note   checkpoint N with its witness cosignatures
//	ledger/LOCK                    flock: one writer at a time
//	<template>/<build-id>/         packer.log, packer-manifest.json,
//	                               build.json, SHA256SUMS,
//	                               provenance.intoto.json (DSSE, in-toto
//	                               Statement v1, SLSA provenance v1)
//
// The entries form an RFC 6962 Merkle tree (golang.org/x/mod/sumdb/tlog);
// every Append signs a checkpoint over the whole tree, so a kill -9 can leave
// at most one unsealed line, which Open (or Repair) seals and records.
// Open is O(1) in the ledger's length when the ledger is as a clean
// shutdown left it: it checks the newest checkpoint, the last entry and a
// consistency proof from the checkpoint this host verified last
// (VerifiedFileName, in Options.StateDir), and falls back to the full check
// otherwise. Verify checks everything offline; (*Ledger).VerifyHistory is
// the same for a daemon's scheduled background check. Prove and CheckProof
// produce and check C2SP tlog-proof inclusion proofs for auditors.
//
// Configured witnesses get every checkpoint in the background (Append never
// waits for them) and their cosignatures are stored; Verify with a
// WitnessCheck asks them whether they have seen a larger or different tree,
// which is what catches a cut tail, a wipe or a rewrite with the key.
//
// The signing key never lives in the evidence tree: see DefaultKeyPath.
package ledger
