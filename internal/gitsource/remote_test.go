package gitsource

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/gittestserver"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// serveGit serves root's repositories over HTTP (with basic auth when
// user is set) from a gittestserver on loopback.
func serveGit(t testing.TB, root, user, password string) *gittestserver.GitServer {
	t.Helper()
	srv := gittestserver.NewGitServer(root)
	if user != "" {
		srv.Auth(user, password)
	}
	must(t, srv.StartHTTP())
	t.Cleanup(srv.StopHTTP)
	return srv
}

// testCA returns a certificate authority and a certificate for 127.0.0.1
// signed by it, PEM-encoded (made once per process).
var testCA = sync.OnceValues(makeTestCA)

type testTLS struct{ cert, key, ca []byte }

func makeTestCA() (*testTLS, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return nil, err
	}
	return &testTLS{
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		ca:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}, nil
}

// TestHTTPSBasicAuth fetches over TLS with basic auth, trusting the test
// CA through Auth.CAFile (and refusing the host without it).
func TestHTTPSBasicAuth(t *testing.T) {
	const user, password, wrong = "git", "right-password-1234", "wrong-password-5678"
	tlsFiles, err := testCA()
	must(t, err)
	cert, key, ca := tlsFiles.cert, tlsFiles.key, tlsFiles.ca
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	must(t, os.WriteFile(caFile, ca, 0o600))

	root := t.TempDir()
	up := newUpstream(t, root)
	commit := up.commitAndPush("a: 1\n")
	srv := gittestserver.NewGitServer(root).Auth(user, password)
	must(t, srv.StartHTTPS(cert, key, ca, "127.0.0.1"))
	t.Cleanup(srv.StopHTTP)
	base, err := url.Parse(srv.HTTPAddress() + "/org/repo.git")
	must(t, err)
	if base.Scheme != "https" {
		t.Fatalf("server at %s, want https", base)
	}

	noCA := newHarness(t, base.String(), func(c *Config) { c.Auth.Password = password })
	if _, err := noCA.Sync(t.Context()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a host whose CA is not trusted: %v", err)
	}

	base.User = url.UserPassword("git", wrong)
	bad := newHarness(t, base.String(), func(c *Config) { c.Auth.CAFile = caFile })
	_, err = bad.Sync(t.Context())
	if err == nil {
		t.Fatal("a wrong password fetched")
	}
	st := bad.Status()
	t.Logf("wrong password: %s", st.LastError)
	if st.LastFetchOK || st.ConsecutiveFailures != 1 || st.LastError == "" {
		t.Errorf("status after a failed fetch = %+v", st)
	}
	expect(t, "failures counted", metricValue(t, bad.m.fetches.WithLabelValues("failure")), 1)
	expect(t, "last fetch success", metricValue(t, bad.m.lastFetchOK), 0)
	repoConfig := readFile(t, filepath.Join(bad.cfg.Dir, "repo.git", "config"))
	for what, text := range map[string]string{"error": err.Error(), "LastError": st.LastError, "status URL": st.URL,
		"logs": bad.logText(t), "repository config": repoConfig} {
		if strings.Contains(text, wrong) {
			t.Errorf("the password is in the %s: %s", what, text)
		}
	}
	if !strings.Contains(bad.logText(t), "fetch failed") {
		t.Errorf("the failure was not logged: %s", bad.logText(t))
	}

	// The token alone: the user defaults to git.
	base.User = nil
	good := newHarness(t, base.String(), func(c *Config) { c.Auth.Password, c.Auth.CAFile = password, caFile })
	res := good.mustSync(t)
	if !res.Changed || res.Revision.Commit != commit || res.Revision.URL != base.String() {
		t.Errorf("with the right password: %+v", res)
	}
}

func TestSSHWithKnownHosts(t *testing.T) {
	root := t.TempDir()
	up := newUpstream(t, root)
	commit := up.commitAndPush("a: 1\n")
	keyDir := t.TempDir()
	srv := gittestserver.NewGitServer(root).KeyDir(keyDir).Auth("git", "unused-for-ssh")
	must(t, srv.ListenSSH())
	go srv.StartSSH()
	t.Cleanup(func() { srv.StopSSH() })
	sshURL := srv.SSHAddress() + "/org/repo.git"
	addr := strings.TrimPrefix(srv.SSHAddress(), "ssh://git@")

	dir := t.TempDir()
	hostPub, err := os.ReadFile(filepath.Join(keyDir, "gitkit.rsa.pub"))
	must(t, err)
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey(hostPub)
	must(t, err)
	goodHosts, wrongHosts := filepath.Join(dir, "known_hosts"), filepath.Join(dir, "wrong_known_hosts")
	must(t, os.WriteFile(goodHosts, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostKey)+"\n"), 0o600))
	// Another key of the host key's type, so the handshake gets as far as
	// checking it.
	otherRSA, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	otherKey, err := ssh.NewPublicKey(&otherRSA.PublicKey)
	must(t, err)
	must(t, os.WriteFile(wrongHosts, []byte(knownhosts.Line([]string{knownhosts.Normalize(addr)}, otherKey)+"\n"), 0o600))

	_, clientPriv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	block, err := ssh.MarshalPrivateKey(clientPriv, "")
	must(t, err)
	keyFile := filepath.Join(dir, "id_ed25519")
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600))

	wrong := newHarness(t, sshURL, func(c *Config) { c.Auth = Auth{SSHKeyFile: keyFile, KnownHostsFile: wrongHosts} })
	_, err = wrong.Sync(t.Context())
	t.Logf("wrong known_hosts: %v", err)
	if err == nil || !strings.Contains(err.Error(), "knownhosts: key mismatch") {
		t.Fatalf("a host key not in known_hosts: Sync err = %v", err)
	}
	if _, _, ok := wrong.Snapshot(); ok {
		t.Error("a revision accepted from an unknown host")
	}

	good := newHarness(t, sshURL, func(c *Config) { c.Auth = Auth{SSHKeyFile: keyFile, KnownHostsFile: goodHosts} })
	res := good.mustSync(t)
	if !res.Changed || res.Revision.Commit != commit {
		t.Errorf("over ssh: %+v", res)
	}

	if _, err := New(Config{URL: sshURL, Ref: "main", Dir: t.TempDir(), Auth: Auth{SSHKeyFile: keyFile}}); err == nil {
		t.Error("an ssh source without known_hosts was accepted")
	}
}

func TestServerDownKeepsRevisionAndCatchesUp(t *testing.T) {
	root := t.TempDir()
	up := newUpstream(t, root)
	first := up.commitAndPush("a: 1\n")
	srv := serveGit(t, root, "", "")
	front := newFront(t, srv.HTTPAddress())
	h := newHarness(t, front.url()+"/org/repo.git", nil)
	h.mustSync(t)

	front.stop()
	second := up.commitAndPush("a: 2\n")
	for i := 1; i <= 2; i++ {
		if _, err := h.Sync(t.Context()); err == nil {
			t.Fatal("a fetch from a stopped server succeeded")
		}
		st := h.Status()
		t.Logf("server down: %s", st.LastError)
		if st.ConsecutiveFailures != i || st.LastFetchOK || st.Current == nil || st.Current.Commit != first {
			t.Errorf("after %d failures: %+v", i, st)
		}
	}
	expect(t, "failures", metricValue(t, h.m.fetches.WithLabelValues("failure")), 2)
	expect(t, "in force", inForce(t, h.Source), first)
	expect(t, "content", readFile(t, filepath.Join(h.Root(), "desired/templates.yaml")), "a: 1\n")

	front.start()
	res := h.mustSync(t)
	if !res.Changed || res.Revision.Commit != second {
		t.Errorf("after the server returned: %+v", res)
	}
	if st := h.Status(); st.ConsecutiveFailures != 0 || !st.LastFetchOK || st.LastError != "" {
		t.Errorf("status after catching up: %+v", st)
	}
	expect(t, "last fetch success", metricValue(t, h.m.lastFetchOK), 1)
}

func TestErrorTextHasNoCredentials(t *testing.T) {
	s, err := newSource(Config{URL: "https://bob:url-secret-123@host/org/repo.git", Ref: "main", Dir: t.TempDir(),
		Auth: Auth{SSHKeyPassphrase: "passphrase-456"}})
	must(t, err)
	expect(t, "moved user", s.cfg.Auth.Username, "bob")
	expect(t, "moved password", s.cfg.Auth.Password, "url-secret-123")
	text := s.errorText(errors.New(`Get "https://bob:url-secret-123@host/x?service=git": EOF; ssh://git:other@host2:22/y; ` +
		"key passphrase-456 and " + strings.Repeat("z", 8<<10)))
	for _, secret := range []string{"url-secret-123", "passphrase-456", "other@", "bob:"} {
		if strings.Contains(text, secret) {
			t.Errorf("%q in %.200s", secret, text)
		}
	}
	if len(text) > maxErrorText+64 || !strings.Contains(text, `Get "https://host/x?service=git": EOF; ssh://host2:22/y`) {
		t.Errorf("error text (%d bytes): %.200s", len(text), text)
	}
}
