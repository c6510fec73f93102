package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"templated/internal/daemon"
	"templated/internal/gitsource"
	"templated/internal/proxmox"
	"templated/internal/redact"
	"templated/internal/session"
	"templated/internal/state"
	"templated/internal/workspace"
)

// The git source's systemd credentials (LoadCredential=NAME:...), read
// from $CREDENTIALS_DIRECTORY when the env file and environment lack them.
const (
	credGitPassword      = "git-password"
	credGitSSHKey        = "git-ssh-key"
	credGitWebhookSecret = "git-webhook-secret"
)

// gitFlags are the daemon's settings for following a git remote. Each
// falls back to its TEMPLATED_GIT_* variable in the environment, then in
// the env file.
type gitFlags struct {
	url, ref, path, verify, signers, sshKey, knownHosts string
	interval                                            time.Duration
}

func (g *gitFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&g.url, "git", "", "follow the git remote at `URL` (https://, ssh:// or git@HOST:PATH) instead of a working copy (TEMPLATED_GIT_URL)")
	fs.StringVar(&g.ref, "git-ref", "", "`ref` to follow: BRANCH, tag:NAME or semver:RANGE (TEMPLATED_GIT_REF; default main)")
	fs.DurationVar(&g.interval, "git-interval", 0, "fetch this often (TEMPLATED_GIT_INTERVAL; default 1m); a push webhook fetches at once")
	fs.StringVar(&g.path, "git-path", "", "repository `subdir` holding desired/ and packer/ (TEMPLATED_GIT_PATH)")
	fs.StringVar(&g.verify, "git-verify", "", "refuse commits not signed by an allowed key: ssh or openpgp (TEMPLATED_GIT_VERIFY)")
	fs.StringVar(&g.signers, "git-allowed-signers", "", "allowed signers `file`: git's allowed_signers format for ssh, armored public keys for openpgp (TEMPLATED_GIT_ALLOWED_SIGNERS)")
	fs.StringVar(&g.sshKey, "git-ssh-key", "", "SSH deploy key `file` (TEMPLATED_GIT_SSH_KEY; default the git-ssh-key credential)")
	fs.StringVar(&g.knownHosts, "git-known-hosts", "", "known_hosts `file` for an SSH remote (TEMPLATED_GIT_KNOWN_HOSTS)")
}

// gitSettings are gitFlags resolved, with the secrets.
type gitSettings struct {
	cfg           gitsource.Config
	webhookSecret string
}

// resolve fills what the flags leave unset from the environment, the env
// file and the systemd credentials. It returns ok false when no remote is
// configured (the daemon follows its working copy).
func (g *gitFlags) resolve(c *common) (gitSettings, bool, error) {
	file, lines := map[string]string{}, map[string]int{}
	if c.envFile != "" {
		var err error
		if file, lines, err = proxmox.ReadEnvFile(c.envFile); err != nil {
			return gitSettings{}, false, err
		}
	}
	lookup := func(key string) string { return cmp.Or(c.env.Getenv(key), file[key]) }
	// where names a setting's source for an error: the env file's line,
	// or the environment.
	where := func(key string) string {
		if c.env.Getenv(key) == "" && lines[key] > 0 {
			return fmt.Sprintf("%s:%d: %s", c.envFile, lines[key], key)
		}
		return key
	}
	url := cmp.Or(g.url, lookup("TEMPLATED_GIT_URL"))
	if url == "" {
		return gitSettings{}, false, nil
	}
	interval := g.interval
	if interval == 0 {
		if v := lookup("TEMPLATED_GIT_INTERVAL"); v != "" {
			d, err := state.ParseDuration(v)
			if err != nil || d <= 0 {
				return gitSettings{}, false, &usageError{msg: fmt.Sprintf("%s=%q: want a duration such as 1m", where("TEMPLATED_GIT_INTERVAL"), v)}
			}
			interval = d
		}
	}
	s := gitSettings{cfg: gitsource.Config{
		URL: url, Ref: cmp.Or(g.ref, lookup("TEMPLATED_GIT_REF"), "main"), Path: cmp.Or(g.path, lookup("TEMPLATED_GIT_PATH")),
		Interval: interval, Dir: filepath.Join(c.stateDir, "git"),
		Auth: gitsource.Auth{Username: lookup("TEMPLATED_GIT_USERNAME"), Password: lookup("TEMPLATED_GIT_PASSWORD"),
			SSHKeyFile: cmp.Or(g.sshKey, lookup("TEMPLATED_GIT_SSH_KEY")), KnownHostsFile: cmp.Or(g.knownHosts, lookup("TEMPLATED_GIT_KNOWN_HOSTS")),
			CAFile: lookup("TEMPLATED_GIT_CA_FILE")},
	}, webhookSecret: lookup("TEMPLATED_GIT_WEBHOOK_SECRET")}
	var err error
	if s.cfg.Auth.Password == "" {
		if s.cfg.Auth.Password, err = proxmox.ReadCredential(c.env.Getenv, credGitPassword); err != nil {
			return gitSettings{}, false, err
		}
	}
	if s.webhookSecret == "" {
		if s.webhookSecret, err = proxmox.ReadCredential(c.env.Getenv, credGitWebhookSecret); err != nil {
			return gitSettings{}, false, err
		}
	}
	if dir := c.env.Getenv("CREDENTIALS_DIRECTORY"); s.cfg.Auth.SSHKeyFile == "" && dir != "" {
		if _, err := os.Stat(filepath.Join(dir, credGitSSHKey)); err == nil {
			s.cfg.Auth.SSHKeyFile = filepath.Join(dir, credGitSSHKey)
		}
	}
	for name, v := range map[string]string{"TEMPLATED_GIT_PASSWORD": s.cfg.Auth.Password, "TEMPLATED_GIT_WEBHOOK_SECRET": s.webhookSecret} {
		if v != "" {
			if err := c.secrets.Add(name, v); err != nil {
				return gitSettings{}, false, err
			}
		}
	}
	verify, signers := cmp.Or(g.verify, lookup("TEMPLATED_GIT_VERIFY")), cmp.Or(g.signers, lookup("TEMPLATED_GIT_ALLOWED_SIGNERS"))
	switch verify {
	case gitsource.VerifyNone:
		if signers != "" {
			return gitSettings{}, false, &usageError{msg: "-git-allowed-signers is set but -git-verify is not (ssh or openpgp)"}
		}
	case gitsource.VerifySSH, gitsource.VerifyOpenPGP:
		if signers == "" {
			return gitSettings{}, false, &usageError{msg: fmt.Sprintf("-git-verify %s needs -git-allowed-signers FILE", verify)}
		}
		newVerifier := gitsource.NewSSHVerifier
		if verify == gitsource.VerifyOpenPGP {
			newVerifier = gitsource.NewOpenPGPVerifier
		}
		if s.cfg.Verifier, err = newVerifier(signers); err != nil {
			return gitSettings{}, false, err
		}
	default:
		src := "-git-verify"
		if g.verify == "" {
			src = where("TEMPLATED_GIT_VERIFY")
		}
		return gitSettings{}, false, &usageError{msg: fmt.Sprintf("%s %q: want ssh or openpgp", src, verify)}
	}
	return s, true, nil
}

// gitDaemon is the daemon's wiring for a followed remote.
type gitDaemon struct{ src *gitsource.Source }

// gitDesiredPath is the desired file of the revision in force, through
// the source's stable symlink (known before the source is opened).
func gitDesiredPath(s gitSettings) string {
	return filepath.Join(gitsource.Root(s.cfg.Dir, s.cfg.Path), defaultDesired)
}

// newGitDaemon opens the source, recording its decisions with rec:
// nothing is fetched until it runs.
func newGitDaemon(s gitSettings, rec gitsource.Recorder, reg prometheus.Registerer, log logrus.FieldLogger) (*gitDaemon, error) {
	s.cfg.Recorder, s.cfg.Registerer, s.cfg.Log = rec, reg, log.WithField("component", "git")
	s.cfg.Validate = func(_ context.Context, root string) error {
		_, err := workspace.LoadDesired(filepath.Join(root, defaultDesired))
		return err
	}
	src, err := gitsource.New(s.cfg)
	if err != nil {
		return nil, err
	}
	return &gitDaemon{src: src}, nil
}

// load reads the desired file of the revision in force, from its own
// checkout, and notes the revision on it.
func (g *gitDaemon) load(string) (*state.Desired, error) {
	root, rev, ok := g.src.Snapshot()
	if !ok {
		return nil, fmt.Errorf("no revision of %s accepted yet", g.src.Status().URL)
	}
	d, err := workspace.LoadDesired(filepath.Join(root, defaultDesired))
	if err != nil {
		return nil, err
	}
	d.Revision = session.StateRevision(rev)
	return d, nil
}

// status is the source for the daemon's /status.
func (g *gitDaemon) status() *daemon.GitStatus {
	st := g.src.Status()
	out := &daemon.GitStatus{URL: st.URL, Ref: st.Ref, LastFetch: st.LastFetch, LastFetchOK: st.LastFetchOK,
		LastError: st.LastError, ConsecutiveFailures: st.ConsecutiveFailures}
	if r := st.Current; r != nil {
		out.Revision, out.Resolved, out.Signer, out.CommittedAt, out.FetchedAt = r.Commit, r.Resolved, r.Signer, r.CommittedAt, r.FetchedAt
	}
	if ev := st.Refused; ev != nil {
		out.Refused = &daemon.GitRefusal{Commit: ev.Revision.Commit, Code: ev.Code, Detail: redact.Bound(ev.Detail, redact.MaxErrorText)}
	}
	return out
}

// handlers are the listener's routes for the source: the push webhook,
// when a secret is configured.
func (g *gitDaemon) handlers(secret string, log logrus.FieldLogger) (map[string]http.Handler, error) {
	if secret == "" {
		return nil, nil
	}
	h, err := gitsource.NewWebhook(gitsource.WebhookConfig{Secret: []byte(secret), Kick: g.src.Kick, Follows: g.src.Follows, Log: log.WithField("component", "webhook")})
	if err != nil {
		return nil, fmt.Errorf("git webhook: %w", err)
	}
	return map[string]http.Handler{webhookPath: h}, nil
}

// webhookPath is where the push webhook is served.
const webhookPath = "/hooks/git"

// runGit is `templated git allow-rewrite COMMIT`: the one way a person
// lets the daemon put in force a fetched revision that does not descend
// from the one it applied (a force-push). The daemon takes it at its next
// fetch, records it in the ledger, and forgets it.
func runGit(_ context.Context, env *cmdEnv, args []string) error {
	if len(args) == 0 || args[0] != "allow-rewrite" {
		return &usageError{msg: "usage: templated git allow-rewrite [-state-dir DIR] COMMIT"}
	}
	var c common
	fs := newFlagSet("git allow-rewrite", env.Stderr)
	c.register(fs, env)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return &usageError{msg: "git allow-rewrite: want one COMMIT (a full hash, or a unique prefix of at least 7 hex digits)"}
	}
	dir := filepath.Join(c.stateDir, "git")
	if err := gitsource.AllowRewrite(dir, fs.Arg(0)); err != nil {
		return fmt.Errorf("git allow-rewrite: %w", err)
	}
	fmt.Fprintf(env.Stdout, "the daemon may now put %s in force once, though it does not descend from the revision it applied; it does so at its next fetch (the interval, a push webhook, or systemctl reload templated)\n", fs.Arg(0))
	return nil
}
