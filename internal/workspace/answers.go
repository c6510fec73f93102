package workspace

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"golang.org/x/crypto/bcrypt"

	"templated/internal/state"
)

// answerCDDir holds, in an OS directory, the installer answer files that
// go on a CD: cd/<name>.pkrtpl becomes <name> on it (Windows reads
// Autounattend.xml from there).
const answerCDDir = "cd"

// RenderAnswers renders the answer-CD files of template t's OS directory
// in the workspace at root, as shared/locals.pkr.hcl renders them for
// Packer's cd_content: cd/<name>.pkrtpl becomes <name>, a template seeing
// username (winrm_username for Windows, ssh_username otherwise, from t's
// var file or the variable's default), password, password_hash (its
// bcrypt hash) and hostname. It returns nil when the OS directory has no
// cd/ files. templated puts the result on an ISO of its own and hands it
// to Packer as answer_iso (packer/README.md).
func RenderAnswers(root string, t state.Template, hostname, password string) (map[string][]byte, error) {
	fsys := os.DirFS(root)
	files, err := Files(fsys, t)
	if err != nil {
		return nil, fmt.Errorf("render answers of %s: %w", t.Name, err)
	}
	var tpls []string
	for _, f := range files {
		if path.Dir(f) == t.Packer+"/"+answerCDDir && strings.HasSuffix(f, ".pkrtpl") {
			tpls = append(tpls, f)
		}
	}
	if len(tpls) == 0 {
		return nil, nil
	}
	if password == "" || hostname == "" {
		return nil, fmt.Errorf("render answers of %s: a password and a host name are required", t.Name)
	}
	vars, err := answerVars(fsys, t, hostname, password)
	if err != nil {
		return nil, fmt.Errorf("render answers of %s: %w", t.Name, err)
	}
	out := make(map[string][]byte, len(tpls))
	for _, f := range tpls {
		text, err := renderTemplate(fsys, f, vars)
		if err != nil {
			return nil, fmt.Errorf("render answers of %s: %w", t.Name, err)
		}
		out[strings.TrimSuffix(path.Base(f), ".pkrtpl")] = []byte(text)
	}
	return out, nil
}

// answerVars are locals.answer_vars.
func answerVars(fsys fs.FS, t state.Template, hostname, password string) (map[string]cty.Value, error) {
	family, err := varString(fsys, t, "os_family")
	if err != nil {
		return nil, err
	}
	userVar := "ssh_username"
	if family == "windows" {
		userVar = "winrm_username"
	}
	user, err := varString(fsys, t, userVar)
	if err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("password hash: %w", err)
	}
	return map[string]cty.Value{
		"username":      cty.StringVal(user),
		"password":      cty.StringVal(password),
		"password_hash": cty.StringVal(string(hash)),
		"hostname":      cty.StringVal(hostname),
	}, nil
}

// varString is variable name as Packer sees it for t without -var
// arguments: the var file's literal value, else the default of its
// declaration in shared/*.pkr.hcl.
func varString(fsys fs.FS, t state.Template, name string) (string, error) {
	e, err := varExpr(fsys, t, name)
	if err != nil {
		return "", err
	}
	return literalString(e, name)
}

// varExpr is the expression that sets variable name for t: the var
// file's, else the default of its declaration in shared/*.pkr.hcl.
func varExpr(fsys fs.FS, t state.Template, name string) (hcl.Expression, error) {
	p := hclparse.NewParser()
	src, err := fs.ReadFile(fsys, t.VarFile)
	if err != nil {
		return nil, err
	}
	vf, diags := p.ParseHCL(src, t.VarFile)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s", diagText(diags))
	}
	attrs, diags := vf.Body.JustAttributes()
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s", diagText(diags))
	}
	if a, ok := attrs[name]; ok {
		return a.Expr, nil
	}
	decls, err := fs.Glob(fsys, sharedDir+"/*.pkr.hcl")
	if err != nil {
		return nil, err
	}
	for _, f := range decls {
		src, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		file, diags := p.ParseHCL(src, f)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s", diagText(diags))
		}
		content, _, _ := file.Body.PartialContent(&hcl.BodySchema{
			Blocks: []hcl.BlockHeaderSchema{{Type: "variable", LabelNames: []string{"name"}}},
		})
		for _, b := range content.Blocks {
			if b.Labels[0] != name {
				continue
			}
			battrs, _ := b.Body.JustAttributes()
			if d, ok := battrs["default"]; ok {
				return d.Expr, nil
			}
		}
	}
	return nil, fmt.Errorf("variable %s is set neither in %s nor by a default in %s/*.pkr.hcl", name, t.VarFile, sharedDir)
}

// literalString evaluates a constant string expression.
func literalString(e hcl.Expression, name string) (string, error) {
	v, diags := e.Value(nil)
	if diags.HasErrors() {
		return "", fmt.Errorf("variable %s must be a constant string here: %s", name, diagText(diags))
	}
	v, err := convert.Convert(v, cty.String)
	if err != nil || v.IsNull() || !v.IsKnown() {
		r := e.Range()
		return "", fmt.Errorf("%s:%d: variable %s is not a string", r.Filename, r.Start.Line, name)
	}
	return v.AsString(), nil
}

// renderTemplate evaluates file f as an HCL template (Packer's
// templatefile) with vars and no functions.
func renderTemplate(fsys fs.FS, f string, vars map[string]cty.Value) (string, error) {
	src, err := fs.ReadFile(fsys, f)
	if err != nil {
		return "", err
	}
	expr, diags := hclsyntax.ParseTemplate(src, f, hcl.InitialPos)
	if diags.HasErrors() {
		return "", fmt.Errorf("%s", diagText(diags))
	}
	v, diags := expr.Value(&hcl.EvalContext{Variables: vars})
	if diags.HasErrors() {
		return "", fmt.Errorf("%s", diagText(diags))
	}
	v, err = convert.Convert(v, cty.String)
	if err != nil || v.IsNull() {
		return "", fmt.Errorf("%s: the template does not render to text", f)
	}
	return v.AsString(), nil
}
