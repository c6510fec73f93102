// Package proxmox is templated's adapter to a Proxmox VE cluster: the
// connection settings (Config, LoadConfig), and Client, which implements
// reconcile.Cluster on top of github.com/Telmate/proxmox-api-go.
//
// # Connection settings (.env format)
//
// templated reads its Proxmox connection from environment variables and/or
// an env file given by flag. The file holds KEY=VALUE lines:
//
//	# templated → Proxmox VE
//	PROXMOX_URL=https://pve1.example.com:8006
//	PROXMOX_TOKEN_ID=templated@pve!reconcile
//	PROXMOX_TOKEN_SECRET=0b7c9c9e-1111-2222-3333-444455556666
//	PROXMOX_NODE=pve1
//	PROXMOX_STORAGE=local-lvm
//	PROXMOX_ISO_STORAGE=local
//	PROXMOX_CA_FILE=/etc/templated/pve-root-ca.pem
//	PROXMOX_INSECURE_SKIP_TLS_VERIFY=false
//
//	PROXMOX_URL                       required; https://HOST:8006, with or without /api2/json
//	PROXMOX_TOKEN_ID                  required; USER@REALM!TOKENID
//	PROXMOX_TOKEN_SECRET              required; the token's secret (a UUID)
//	PROXMOX_NODE                      node that builds and holds the templates
//	PROXMOX_STORAGE                   storage for VM disks (e.g. local-lvm)
//	PROXMOX_ISO_STORAGE               storage holding installer ISOs (e.g. local)
//	PROXMOX_CA_FILE                   PEM CA certificate(s) trusted in addition to the
//	                                  system roots (a node's /etc/pve/pve-root-ca.pem)
//	PROXMOX_INSECURE_SKIP_TLS_VERIFY  true disables certificate checks (testing only;
//	                                  logged as a warning); default false
//
// Syntax: blank lines and lines starting with # are ignored; an optional
// leading "export " is allowed; values may be 'single-quoted' (literal) or
// "double-quoted" (\" \\ \n escapes); an unquoted value ends at " #".
// Unknown PROXMOX_* keys and a key set twice are errors (with file and
// line); other keys are ignored.
//
// Precedence: a variable set (non-empty) in the environment overrides the
// file's value for that key. So the file can hold the defaults and the
// environment, e.g. a systemd EnvironmentFile, can override single keys.
//
// The file must not be readable by group or others if it contains
// PROXMOX_TOKEN_SECRET: templated refuses it and says to run
// `chmod 600 FILE`. The secret never appears in logs, errors or
// Config.String().
//
// # Client behaviour
//
// TLS verification is on by default (system roots plus PROXMOX_CA_FILE).
// Every call runs with a deadline (Options.ReadTimeout, WriteTimeout,
// TaskTimeout), in its own goroutine so that ctx cancellation works even
// while proxmox-api-go sleeps; a library panic becomes an ErrUnexpected
// error; a network failure returns at once instead of after the library's
// retries; empty-bodied error answers (PVE's 401) are not retried. Task
// waits poll GET /nodes/{node}/tasks/{upid}/status every PollInterval and a
// failed task gives *state.TaskError with PVE's exitstatus. Errors match
// the sentinels in errors.go (ErrUnreachable, ErrTLS, ErrAuth, ErrLocked,
// ...) with errors.Is and say what to do; a failed task also unwraps to
// *state.TaskError. An abandoned library goroutine (after a deadline or a
// fast failure) may sleep on for up to 6 s but sends no further request:
// its context is canceled.
//
// Requests per method: ListGuests 1 (GET /cluster/resources?type=vm);
// GuestConfig 1; SetMeta and SetMetaIf 1 (PUT config, synchronous;
// SetMetaIf sends the digest, a compare-and-swap); CreateGuest 1 (POST
// /nodes/{node}/qemu) + one task poll per PollInterval; Clone and
// ConvertToTemplate 1 + one task poll per PollInterval; Delete 2 (status,
// DELETE) + polls, plus a stop task if the guest runs; LinkedClones 1 + one
// storage content listing per storage holding the template's disks;
// Version 1. No method resolves a VMID through /cluster/resources: the
// node is always given.
package proxmox
