package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
)

// DetectCI returns the CI run templated runs in, from the environment:
// Jenkins (BUILD_URL, BUILD_TAG), GitHub Actions (GITHUB_SERVER_URL,
// GITHUB_REPOSITORY, GITHUB_RUN_ID), or System "none".
func DetectCI(getenv func(string) string) CI {
	if u := getenv("BUILD_URL"); u != "" || getenv("JENKINS_URL") != "" {
		return CI{System: "jenkins", URL: stripUserinfo(u), BuildTag: getenv("BUILD_TAG")}
	}
	if id := getenv("GITHUB_RUN_ID"); id != "" {
		server, repo := getenv("GITHUB_SERVER_URL"), getenv("GITHUB_REPOSITORY")
		if server == "" {
			server = "https://github.com"
		}
		return CI{System: "github-actions", URL: stripUserinfo(server) + "/" + repo + "/actions/runs/" + id,
			Repository: repo, RunID: id}
	}
	return CI{System: "none"}
}

// DetectGit returns the commit of the git work tree at dir and whether it has
// uncommitted changes, with the origin remote's URL (credentials removed).
// It returns nil, nil when dir is not in a git work tree or git is missing.
func DetectGit(ctx context.Context, dir string) (*Git, error) {
	commit, err := gitOut(ctx, dir, "rev-parse", "--verify", "HEAD")
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || errors.Is(err, exec.ErrNotFound) {
			return nil, nil // not a repository, no commit yet, or no git
		}
		return nil, fmt.Errorf("git rev-parse: %w", err)
	}
	status, err := gitOut(ctx, dir, "status", "--porcelain", "--untracked-files=normal")
	if err != nil {
		return nil, fmt.Errorf("git status: %w", err)
	}
	remote, _ := gitOut(ctx, dir, "config", "--get", "remote.origin.url")
	return &Git{Repo: stripUserinfo(remote), Commit: commit, Dirty: status != ""}, nil
}

func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// stripUserinfo removes credentials from a URL (https://user:token@host/...).
func stripUserinfo(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if i := strings.Index(s, "@"); err != nil && i >= 0 && strings.Contains(s[:i], "://") {
			return s[:strings.Index(s, "://")+3] + s[i+1:]
		}
		return s
	}
	u.User = nil
	return u.String()
}
