package gitsource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	"templated/internal/redact"
)

// maxErrorText bounds the fetch error kept in Status and logged.
const maxErrorText = 2 << 10

// openRepo opens the bare repository at dir, creating it when missing,
// with remote origin at url (updated when the configured URL changed).
func openRepo(dir, url string) (*git.Repository, error) {
	repo, err := git.PlainOpen(dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainInit(dir, true)
	}
	if err != nil {
		return nil, fmt.Errorf("open repository %s: %w", dir, err)
	}
	remote, err := repo.Remote(git.DefaultRemoteName)
	switch {
	case err == nil && len(remote.Config().URLs) == 1 && remote.Config().URLs[0] == url:
		return repo, nil
	case err == nil:
		if err := repo.DeleteRemote(git.DefaultRemoteName); err != nil {
			return nil, fmt.Errorf("update remote in %s: %w", dir, err)
		}
	case !errors.Is(err, git.ErrRemoteNotFound):
		return nil, fmt.Errorf("read remote in %s: %w", dir, err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: git.DefaultRemoteName, URLs: []string{url}}); err != nil {
		return nil, fmt.Errorf("set remote in %s: %w", dir, err)
	}
	return repo, nil
}

// fetch brings the remote's ref (and its full history) into the
// repository, bounded by Timeout. A remote that lacks the branch or is
// empty gives a *refusal (RefusedRef), not a fetch failure.
func (s *Source) fetch(ctx context.Context) error {
	auth, err := s.authMethod()
	if err != nil {
		return err
	}
	var ca []byte
	if f := s.cfg.Auth.CAFile; f != "" && !s.ssh {
		if ca, err = os.ReadFile(f); err != nil {
			return fmt.Errorf("git source: CA bundle: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	err = s.repo.FetchContext(ctx, &git.FetchOptions{
		CABundle:   ca,
		RemoteName: git.DefaultRemoteName,
		RefSpecs:   s.ref.fetchSpecs(),
		Auth:       auth,
		Tags:       git.NoTags,
		Force:      true,
		Prune:      true,
	})
	var noMatch git.NoMatchingRefSpecError
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.As(err, &noMatch), errors.Is(err, transport.ErrEmptyRemoteRepository):
		return &refusal{RefusedRef, fmt.Sprintf("%s is not on the remote", s.ref.full())}
	}
	return fmt.Errorf("fetch %s: %w", s.url, err)
}

// authMethod builds the transport credentials afresh for each fetch, so a
// rotated key or known_hosts file is picked up.
func (s *Source) authMethod() (transport.AuthMethod, error) {
	if strings.HasPrefix(s.url, "file://") {
		return nil, nil
	}
	if s.ssh {
		return s.sshAuth()
	}
	if s.cfg.Auth.Username == "" && s.cfg.Auth.Password == "" {
		return nil, nil
	}
	return &http.BasicAuth{Username: s.cfg.Auth.Username, Password: s.cfg.Auth.Password}, nil
}

func (s *Source) sshAuth() (transport.AuthMethod, error) {
	a := s.cfg.Auth
	if a.SSHKeyFile == "" {
		return nil, errors.New("git source: an ssh url needs an ssh key file")
	}
	if a.KnownHostsFile == "" {
		return nil, errors.New("git source: an ssh url needs a known_hosts file (host keys are always checked)")
	}
	if _, err := os.Stat(a.KnownHostsFile); err != nil {
		return nil, fmt.Errorf("git source: known_hosts: %w", err)
	}
	user, hostPort, err := sshTarget(s.url)
	if err != nil {
		return nil, err
	}
	keys, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, a.SSHKeyPassphrase)
	if err != nil {
		// The key parser's errors name no secret, but run them through
		// the redactor all the same.
		return nil, fmt.Errorf("git source: ssh key %s: %s", a.SSHKeyFile, s.secrets.String(err.Error()))
	}
	db, err := gitssh.NewKnownHostsDb(a.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("git source: known_hosts %s: %w", a.KnownHostsFile, err)
	}
	keys.HostKeyCallback = db.HostKeyCallback()
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(hostPort)
	return &sshKeys{PublicKeys: keys, timeout: s.cfg.Timeout}, nil
}

// sshKeys bounds the SSH connection's dial by the fetch timeout: go-git
// connects without the fetch's context (only the transfer watches it).
type sshKeys struct {
	*gitssh.PublicKeys
	timeout time.Duration
}

func (k *sshKeys) ClientConfig() (*ssh.ClientConfig, error) {
	cfg, err := k.PublicKeys.ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.Timeout = k.timeout
	return cfg, nil
}

// errorText is err as Status and the logs show it: no credentials,
// bounded.
func (s *Source) errorText(err error) string {
	text := stripUserinfo(err.Error())
	return redact.Bound(s.secrets.String(text), maxErrorText)
}

// stripUserinfo removes user:password@ from every URL in text.
func stripUserinfo(text string) string {
	var b strings.Builder
	for {
		i := strings.Index(text, "://")
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(text[:i+3])
		text = text[i+3:]
		end := strings.IndexAny(text, "/ \t\n\"'")
		if end < 0 {
			end = len(text)
		}
		if at := strings.LastIndex(text[:end], "@"); at >= 0 {
			text = text[at+1:]
		}
	}
}
