package gitsource

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-billy/v5/memfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
	"golang.org/x/crypto/ssh"
)

// signedCommit is what the source hands a Verifier: the gpgsig header and
// the commit encoded without it.
type signedCommit struct {
	sig     string
	payload []byte
}

func commitInput(t *testing.T, c *object.Commit) signedCommit {
	t.Helper()
	var o plumbing.MemoryObject
	if err := c.EncodeWithoutSignature(&o); err != nil {
		t.Fatal(err)
	}
	r, err := o.Reader()
	if err != nil {
		t.Fatal(err)
	}
	payload, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return signedCommit{sig: c.PGPSignature, payload: payload}
}

// testSSHKey is an ed25519 key written where ssh-keygen can sign with it.
type testSSHKey struct {
	path       string // private key file (0600)
	pub        ssh.PublicKey
	signer     ssh.Signer
	authorized string // "ssh-ed25519 AAAA..."
}

func newTestSSHKey(t *testing.T) testSSHKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return testSSHKey{
		path:       path,
		pub:        signer.PublicKey(),
		signer:     signer,
		authorized: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))),
	}
}

// testGitRepo is a scratch repository driven by the git CLI, so that the
// signatures under test are the ones people's git writes.
type testGitRepo struct {
	t   *testing.T
	dir string
	env []string
}

func newTestGitRepo(t *testing.T) *testGitRepo {
	t.Helper()
	for _, bin := range []string{"git", "ssh-keygen"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed", bin)
		}
	}
	dir := t.TempDir()
	r := &testGitRepo{t: t, dir: dir, env: append(os.Environ(),
		"HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+filepath.Join(dir, "gitconfig"),
		"GIT_AUTHOR_NAME=Alice", "GIT_AUTHOR_EMAIL=alice@example.com",
		"GIT_COMMITTER_NAME=Alice", "GIT_COMMITTER_EMAIL=alice@example.com",
	)}
	r.git(nil, "init", "-q")
	return r
}

func (r *testGitRepo) git(env []string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(append([]string{}, r.env...), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// commit makes a commit dated at (committer and author), SSH-signed with
// key unless key is nil, and returns it as go-git reads it.
func (r *testGitRepo) commit(key *testSSHKey, at time.Time) signedCommit {
	r.t.Helper()
	name := filepath.Join(r.dir, "desired.txt")
	if err := os.WriteFile(name, []byte(at.String()+rand.Text()), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.git(nil, "add", "desired.txt")
	date := []string{"GIT_AUTHOR_DATE=@" + unixString(at) + " +0000", "GIT_COMMITTER_DATE=@" + unixString(at) + " +0000"}
	args := []string{"commit", "-q", "-m", "change"}
	if key != nil {
		args = append([]string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key.path}, append(args, "-S")...)
	}
	r.git(date, args...)
	repo, err := git.PlainOpen(r.dir)
	if err != nil {
		r.t.Fatal(err)
	}
	head, err := repo.Head()
	if err != nil {
		r.t.Fatal(err)
	}
	c, err := repo.CommitObject(head.Hash())
	if err != nil {
		r.t.Fatal(err)
	}
	return commitInput(r.t, c)
}

func unixString(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newTestEntity makes an ed25519 OpenPGP key (fast to generate).
func newTestEntity(t *testing.T, name, email string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func armoredPublic(t *testing.T, e *openpgp.Entity) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String() + "\n"
}

// pgpCommit makes a commit with go-git, signed by e unless e is nil.
func pgpCommit(t *testing.T, e *openpgp.Entity) signedCommit {
	t.Helper()
	repo, err := git.Init(memory.NewStorage(), memfs.New())
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	f, err := wt.Filesystem.Create("desired.txt")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(rand.Text())); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add("desired.txt"); err != nil {
		t.Fatal(err)
	}
	who := &object.Signature{Name: "Alice", Email: "alice@example.com", When: time.Now()}
	h, err := wt.Commit("change", &git.CommitOptions{Author: who, Committer: who, SignKey: e})
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.CommitObject(h)
	if err != nil {
		t.Fatal(err)
	}
	return commitInput(t, c)
}

// tamper changes the commit message in a signed payload.
func tamper(payload []byte) []byte {
	return bytes.Replace(append([]byte{}, payload...), []byte("change"), []byte("chango"), 1)
}
