package workspace

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestRenderAnswers(t *testing.T) {
	root := copyWorkspace(t)
	tmpls := defaultTemplates()
	win := tmpls[3]
	for _, linux := range tmpls[:3] {
		if files, err := RenderAnswers(root, linux, linux.Name, "pw"); err != nil || files != nil {
			t.Errorf("%s (no cd/ files): %v %v", linux.Name, files, err)
		}
	}
	files, err := RenderAnswers(root, win, "tpl-win2022-stg-9900", "Tpl-S3CRET")
	if err != nil {
		t.Fatal(err)
	}
	xml := string(files["Autounattend.xml"])
	if len(files) != 1 || !strings.Contains(xml, "<AdministratorPassword><Value>Tpl-S3CRET</Value>") ||
		!strings.Contains(xml, "<Username>Administrator</Username>") || strings.Contains(xml, "${") {
		t.Fatalf("rendered %d files; Autounattend.xml:\n%s", len(files), xml)
	}

	// The var file's winrm_username wins over the default; every answer
	// variable is there, password_hash a bcrypt hash of the password.
	rewrite(t, filepath.Join(root, win.VarFile), func(s string) string { return s + "\nwinrm_username = \"builder\"\n" })
	extra := filepath.Join(root, win.Packer, "cd", "vars.txt.pkrtpl")
	if err := os.WriteFile(extra, []byte("${username} ${hostname} ${password_hash}\n%{ if password != \"\" }set%{ endif }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	files, err = RenderAnswers(root, win, "host-1", "Tpl-S3CRET")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(files["vars.txt"]))
	if len(f) != 4 || f[0] != "builder" || f[1] != "host-1" || f[3] != "set" ||
		bcrypt.CompareHashAndPassword([]byte(f[2]), []byte("Tpl-S3CRET")) != nil {
		t.Fatalf("vars.txt = %q", files["vars.txt"])
	}

	if _, err := RenderAnswers(root, win, "host-1", ""); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("empty password: %v", err)
	}
	if err := os.WriteFile(extra, []byte("line 1\n${nope}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = RenderAnswers(root, win, "host-1", "pw")
	if err == nil || !strings.Contains(err.Error(), "render answers of tpl-win2022") || !strings.Contains(err.Error(), "windows/server/cd/vars.txt.pkrtpl:2") {
		t.Errorf("unknown template variable: %v, want the file and line", err)
	}
}

// TestRenderAnswersMatchesPacker: templated's rendering of the answer CD
// is byte for byte what Packer's locals.cd_content makes of it (Packer
// prints the password as <sensitive>).
func TestRenderAnswersMatchesPacker(t *testing.T) {
	p := needPacker(t)
	win := defaultTemplates()[3]
	dir := filepath.Join(t.TempDir(), "build")
	if err := Assemble(workspaceRoot(t), win, p.gen, dir); err != nil {
		t.Fatal(err)
	}
	const password = "Tpl-MATCHPACKER2345"
	want, err := RenderAnswers(workspaceRoot(t), win, "tpl-win2022-stg-9900", password)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.bin, "console", "-var-file="+VarFileName(win),
		"-var", "template_name=tpl-win2022-stg-9900", "-var", "build_password="+password, ".")
	cmd.Dir = dir
	cmd.Env = p.env
	for k, v := range validateEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin = strings.NewReader(`local.cd_content["Autounattend.xml"]` + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("packer console: %v\n%s", err, stderr.String())
	}
	got := strings.TrimSuffix(string(out), "\n")
	expect := strings.ReplaceAll(string(want["Autounattend.xml"]), password, "<sensitive>")
	if got != expect {
		t.Fatalf("Packer renders Autounattend.xml differently:\n--- packer\n%s\n--- templated\n%s", got, expect)
	}
}
