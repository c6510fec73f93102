package workspace

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	"templated/internal/state"
)

// Build says what one build of a template is for; BuildVars turns it and
// the template's desired entry into Packer variables.
type Build struct {
	// VMID is where Packer builds (templated's staging VMID); 0 means t.VMID.
	VMID int
	// Name is the name the built template gets; "" means t.Name.
	Name string
	// ID identifies the build; it comes back in the manifest's custom_data.
	ID string
	// ManifestPath is where the manifest post-processor writes (absolute,
	// or relative to the build directory).
	ManifestPath string
	// Description and Tags are set on the template (tags: plugin
	// generation v1.2 only; see packer/README.md).
	Description string
	Tags        []string
	// Communicator overrides the OS var file's ("none" on simulated
	// clusters, where provisioners cannot run); "" keeps it.
	Communicator string
}

// BuildVars returns the non-secret variables templated passes to Packer
// (-var name=value) for building t, after its var file. Secrets are never
// among them: see BuildEnv.
func BuildVars(t state.Template, b Build) (map[string]string, error) {
	vmid, name := b.VMID, b.Name
	if vmid == 0 {
		vmid = t.VMID
	}
	if name == "" {
		name = t.Name
	}
	if b.ID == "" || b.ManifestPath == "" {
		return nil, fmt.Errorf("build variables for %s: a build id and a manifest path are required", t.Name)
	}
	for _, tag := range b.Tags {
		if tag == "" || strings.ContainsAny(tag, ";, ") {
			return nil, fmt.Errorf("build variables for %s: invalid tag %q", t.Name, tag)
		}
	}
	vars := map[string]string{
		"build_mode":    t.Build,
		"vm_id":         strconv.Itoa(vmid),
		"template_name": name,
		"node":          t.Node,
		"storage":       t.Storage,
		"iso_storage":   t.ISOStorage,
		"cores":         strconv.Itoa(t.Cores),
		"memory":        strconv.Itoa(t.MemoryMiB),
		"disk_size":     strconv.Itoa(t.DiskGB) + "G",
		"build_id":      b.ID,
		"manifest_path": b.ManifestPath,
	}
	if b.Description != "" {
		vars["template_description"] = b.Description
	}
	if len(b.Tags) > 0 {
		vars["tags"] = strings.Join(b.Tags, ";")
	}
	if b.Communicator != "" {
		vars["communicator"] = b.Communicator
	}
	return vars, nil
}

// VarFileName is the -var-file argument for t in its assembled build
// directory.
func VarFileName(t state.Template) string { return path.Base(t.VarFile) }

// Conn is how Packer reaches the cluster: the .env settings that are not
// placement (node and storages travel as variables).
type Conn struct {
	URL                   string
	TokenID               string
	TokenSecret           string
	CAFile                string
	InsecureSkipTLSVerify bool
}

// String describes c without its secret, so that printing a Conn (or a
// struct holding one) with %v or %+v never shows the token.
func (c Conn) String() string {
	return fmt.Sprintf("{URL:%s TokenID:%s TokenSecret:[redacted] CAFile:%s InsecureSkipTLSVerify:%t}",
		c.URL, c.TokenID, c.CAFile, c.InsecureSkipTLSVerify)
}

// GoString is String for %#v.
func (c Conn) GoString() string { return "workspace.Conn" + c.String() }

// BuildEnv returns the environment Packer needs on top of PATH and
// PACKER_PLUGIN_PATH: the connection settings the workspace's variables
// default to (PROXMOX_URL, PROXMOX_TOKEN_ID, PROXMOX_TOKEN_SECRET,
// PROXMOX_INSECURE_SKIP_TLS_VERIFY) and, for a cluster with its own CA,
// SSL_CERT_FILE, which the plugin's TLS client trusts. The secret travels
// only here, never in arguments.
func BuildEnv(c Conn) map[string]string {
	env := map[string]string{
		"PROXMOX_URL":                      c.URL,
		"PROXMOX_TOKEN_ID":                 c.TokenID,
		"PROXMOX_TOKEN_SECRET":             c.TokenSecret,
		"PROXMOX_INSECURE_SKIP_TLS_VERIFY": strconv.FormatBool(c.InsecureSkipTLSVerify),
		"CHECKPOINT_DISABLE":               "1",
	}
	if c.CAFile != "" {
		env["SSL_CERT_FILE"] = c.CAFile
	}
	return env
}
