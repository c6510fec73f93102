package pvesim

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// metaParams are parameters of the config endpoints that are not config keys.
var metaParams = map[string]bool{"digest": true, "delete": true, "revert": true, "skiplock": true,
	"force": true, "background_delay": true, "node": true, "vmid": true, "start": true, "pool": true,
	"unique": true, "archive": true, "storage": true, "live-restore": true, "import-working-storage": true}

var reListSplit = regexp.MustCompile(`[\s,;]+`)

// configUpdate is a validated set of config changes.
type configUpdate struct {
	set      map[string]string
	del      []string
	revert   []string
	digest   string
	skiplock bool
}

// parseUpdate validates the parameters of a config change; errors are
// PVE's 400 "Parameter verification failed." with per-key messages.
func parseUpdate(typ string, params url.Values) (*configUpdate, error) {
	u := &configUpdate{set: map[string]string{}, digest: params.Get("digest")}
	errs := map[string]string{}
	for k, vs := range params {
		if metaParams[k] || len(vs) == 0 {
			continue
		}
		if !reConfigKey.MatchString(k) {
			errs[k] = "property is not defined in schema and the schema does not allow additional properties"
			continue
		}
		v, msg := checkValue(typ, k, vs[0])
		if msg != "" {
			errs[k] = msg
			continue
		}
		if typ == "qemu" && reNetKey.MatchString(k) {
			v = withMAC(v, false)
		}
		if isDiskKey(k) || reNetKey.MatchString(k) {
			v = normalizePropBools(v)
		}
		u.set[k] = v
	}
	for _, k := range reListSplit.Split(params.Get("delete"), -1) {
		if k == "" {
			continue
		}
		if _, ok := u.set[k]; ok {
			errs["delete"] = fmt.Sprintf("cannot set and delete the same option '%s'", k)
		}
		u.del = append(u.del, k)
	}
	for _, k := range reListSplit.Split(params.Get("revert"), -1) {
		if k != "" {
			u.revert = append(u.revert, k)
		}
	}
	if params.Has("skiplock") {
		b, ok := normalizeBool(params.Get("skiplock"))
		u.skiplock = ok && b == "1"
	}
	if len(errs) > 0 {
		return nil, paramError(errs)
	}
	return u, nil
}

// propBoolKeys are boolean options inside drive and NIC property strings;
// PVE re-renders them as 1/0.
var propBoolKeys = map[string]bool{"iothread": true, "ssd": true, "backup": true, "replicate": true,
	"ro": true, "firewall": true, "link_down": true, "shared": true, "pre-enrolled-keys": true}

func normalizePropBools(v string) string {
	head, opts := propList(v)
	for i, o := range opts {
		if k, val, ok := strings.Cut(o, "="); ok && propBoolKeys[k] {
			if b, ok := normalizeBool(val); ok {
				opts[i] = k + "=" + b
			}
		}
	}
	return strings.Join(append([]string{head}, opts...), ",")
}

var reConfigKey = regexp.MustCompile(`^[a-z][a-z0-9_\-]*$`)

// hotpluggable reports whether a change of key applies at once on a
// running VM (otherwise it becomes pending until the next start).
func hotpluggable(key string) bool {
	return fastPlugKeys[key] || reIPConfKey.MatchString(key) || reNetKey.MatchString(key) ||
		(isDiskKey(key) && key != "efidisk0" && key != "tpmstate0")
}

// checkLock is AbstractConfig::check_lock.
func (g *guest) checkLock() error {
	if l := g.conf["lock"]; l != "" {
		kind := "VM"
		if g.typ == "lxc" {
			kind = "CT"
		}
		return fail(500, "%s is locked (%s)", kind, l)
	}
	return nil
}

// applyUpdate applies u to g as update_vm_api does; c.mu must be held.
func (c *Cluster) applyUpdate(g *guest, u *configUpdate) error {
	if u.digest != "" && u.digest != configDigest(g.conf, g.pending, g.pendDel) {
		// qemu-server's update_vm_api ("missmatch" before 2024-10).
		return fail(500, "checksum mismatch (file change by other user?)")
	}
	if !u.skiplock {
		if err := g.checkLock(); err != nil {
			return err
		}
	}
	if err := c.checkISOs(u.set); err != nil {
		return err
	}
	keys := make([]string, 0, len(u.set))
	for k := range u.set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	added := map[string]string{}
	for _, k := range keys {
		v := u.set[k]
		if isDiskKey(k) && g.typ == "qemu" {
			var err error
			if v, err = c.allocDrive(g, k, v, added); err != nil {
				var we *workerError
				if errors.As(err, &we) {
					return we
				}
				return asAPIError(err)
			}
			added[k] = v
		}
		if (k == "description" || k == "tags") && v == "" {
			u.del = append(u.del, k)
			continue
		}
		if g.running && !hotpluggable(k) {
			g.pending[k] = v
			delete(g.pendDel, k)
			continue
		}
		if isDiskKey(k) && g.conf[k] != "" && driveVolume(g.conf[k]) != driveVolume(v) {
			g.unuse(g.conf[k])
		}
		g.conf[k] = v
	}
	for _, k := range u.del {
		if _, inConf := g.conf[k]; !inConf {
			delete(g.pending, k)
			continue
		}
		if g.running && !hotpluggable(k) {
			g.pendDel[k] = true
			continue
		}
		if isDiskKey(k) && !strings.HasPrefix(k, "unused") {
			g.unuse(g.conf[k])
		}
		delete(g.conf, k)
		delete(g.pending, k)
	}
	for _, k := range u.revert {
		delete(g.pending, k)
		delete(g.pendDel, k)
	}
	return nil
}

// unuse keeps a detached disk's volume as unusedN (CD-ROMs and cloud-init
// drives are simply dropped), as qemu-server does.
func (g *guest) unuse(v string) {
	if isCDROM(v) || isCloudInit(v) {
		return
	}
	vol := driveVolume(v)
	for k, ov := range g.conf {
		if strings.HasPrefix(k, "unused") && ov == vol {
			return
		}
	}
	for i := 0; ; i++ {
		k := fmt.Sprintf("unused%d", i)
		if _, ok := g.conf[k]; !ok {
			g.conf[k] = vol
			return
		}
	}
}

// checkISOs makes sure CD-ROM volumes on an iso storage exist.
func (c *Cluster) checkISOs(set map[string]string) error {
	for k, v := range set {
		if !isDiskKey(k) || propGet(v, "media") != "cdrom" {
			continue
		}
		vol := driveVolume(v)
		st, name, ok := splitVolid(vol)
		if !ok || !strings.HasPrefix(name, "iso/") {
			continue
		}
		if _, ok := c.storage(st); !ok {
			return fail(500, "storage '%s' does not exist", st)
		}
		if _, ok := c.isos[vol]; !ok {
			return fail(500, "volume '%s' does not exist", vol)
		}
	}
	return nil
}

// configView is GET …/config: current config with pending applied unless
// current is set, typed as PVE's JSON, plus the digest.
func (g *guest) configView(current bool) map[string]any {
	conf := g.conf
	if !current && (len(g.pending) > 0 || len(g.pendDel) > 0) {
		conf = map[string]string{}
		for k, v := range g.conf {
			if !g.pendDel[k] {
				conf[k] = v
			}
		}
		for k, v := range g.pending {
			conf[k] = v
		}
	}
	out := make(map[string]any, len(conf)+1)
	for k, v := range conf {
		switch k {
		case "description":
			out[k] = strings.TrimRight(v, " \t\r\n")
		case "cipassword":
			out[k] = "**********"
		default:
			out[k] = jsonValue(g.typ, k, v)
		}
	}
	out["digest"] = configDigest(g.conf, g.pending, g.pendDel)
	return out
}

// pendingView is GET …/pending.
func (g *guest) pendingView() []map[string]any {
	keys := map[string]bool{}
	for k := range g.conf {
		keys[k] = true
	}
	for k := range g.pending {
		keys[k] = true
	}
	out := []map[string]any{}
	for _, k := range sortedKeys(keys) {
		e := map[string]any{"key": k}
		if v, ok := g.conf[k]; ok {
			e["value"] = jsonValue(g.typ, k, v)
			if k == "cipassword" {
				e["value"] = "**********"
			}
		}
		if v, ok := g.pending[k]; ok {
			e["pending"] = jsonValue(g.typ, k, v)
		}
		if g.pendDel[k] {
			e["delete"] = 1
		}
		out = append(out, e)
	}
	return out
}
