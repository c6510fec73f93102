package pvesim

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// qemuNumberKeys are config keys whose schema type is integer, number or
// boolean: PVE returns them as JSON numbers (booleans as 1/0).
var qemuNumberKeys = map[string]bool{
	"template": true, "protection": true, "onboot": true, "kvm": true, "tablet": true,
	"numa": true, "cores": true, "sockets": true, "balloon": true, "cpuunits": true,
	"vcpus": true, "shares": true, "acpi": true, "autostart": true, "reboot": true,
	"localtime": true, "freeze": true, "migrate_downtime": true, "migrate_speed": true,
	"cpulimit": true, "keephugepages": true, "ciupgrade": true,
}

// lxcNumberKeys are the LXC config keys PVE returns as numbers (memory is an
// integer for containers, unlike QEMU's memory string).
var lxcNumberKeys = map[string]bool{
	"template": true, "protection": true, "onboot": true, "cores": true, "memory": true,
	"swap": true, "unprivileged": true, "cpulimit": true, "cpuunits": true, "tty": true,
}

// booleanKeys are normalised to "1"/"0" on write, as PVE's schema does.
var booleanKeys = map[string]bool{
	"template": true, "protection": true, "onboot": true, "kvm": true, "tablet": true,
	"numa": true, "acpi": true, "autostart": true, "reboot": true, "localtime": true,
	"freeze": true, "keephugepages": true, "ciupgrade": true, "unprivileged": true,
}

// fastPlugKeys are applied at once even while the VM runs (qemu-server's
// $fast_plug_option), as are cloud-init options, NICs and disks (default
// hotplug "network,disk,usb"). Everything else goes to pending.
var fastPlugKeys = map[string]bool{
	"lock": true, "name": true, "onboot": true, "shares": true, "startup": true,
	"description": true, "protection": true, "vmstatestorage": true, "hookscript": true,
	"tags": true, "ciuser": true, "cipassword": true, "sshkeys": true, "nameserver": true,
	"searchdomain": true, "citype": true, "ciupgrade": true, "cicustom": true,
}

var (
	reNetKey     = regexp.MustCompile(`^net\d+$`)
	reIPConfKey  = regexp.MustCompile(`^ipconfig\d+$`)
	reMAC        = regexp.MustCompile(`(?i)\b([0-9a-f]{2}(:[0-9a-f]{2}){5})\b`)
	reTagSplit   = regexp.MustCompile(`[;, ]+`)
	reTag        = regexp.MustCompile(`^[a-z0-9_][a-z0-9_\-+.]*$`)
	reAllocDisk  = regexp.MustCompile(`^([a-zA-Z0-9][\w.-]*):(\d+(?:\.\d+)?)$`)
	reCloudInit  = regexp.MustCompile(`^([a-zA-Z0-9][\w.-]*):cloudinit$`)
	reVolVMDisk  = regexp.MustCompile(`^(?:\d+/)?(?:vm|base)-(\d+)-disk-(\d+)`)
	reValidVolid = regexp.MustCompile(`^([a-zA-Z0-9][\w.-]*):(.+)$`)
)

// maxDescription is the schema maxLength of description (8 KiB).
const maxDescription = 8192

// normalizeTags does what pve-manager's get_unique_tags does with the
// default tag style: split on ';', ',' and space, lower-case, sort, drop
// duplicates, join with ';'. It returns the tag that fails validation.
func normalizeTags(s string) (string, string) {
	seen := map[string]bool{}
	var out []string
	for _, t := range reTagSplit.Split(s, -1) {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || seen[t] {
			continue
		}
		if !reTag.MatchString(t) {
			return "", t
		}
		seen[t] = true
		out = append(out, t)
	}
	sort.Strings(out)
	return strings.Join(out, ";"), ""
}

// NormalizeTags returns tags as PVE stores them (lower-case, sorted,
// de-duplicated, ';'-separated). Invalid tags are dropped.
func NormalizeTags(s string) string {
	var keep []string
	for _, t := range reTagSplit.Split(s, -1) {
		if reTag.MatchString(strings.ToLower(t)) {
			keep = append(keep, t)
		}
	}
	n, _ := normalizeTags(strings.Join(keep, ";"))
	return n
}

// normalizeBool maps PVE's accepted boolean spellings to "1"/"0".
func normalizeBool(v string) (string, bool) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "on":
		return "1", true
	case "0", "false", "no", "off":
		return "0", true
	}
	return "", false
}

// checkValue validates and normalises one config value as PVE's schema
// would; the error text is what PVE puts in the 400 "errors" map.
func checkValue(typ, key, v string) (string, string) {
	numKeys := qemuNumberKeys
	if typ == "lxc" {
		numKeys = lxcNumberKeys
	}
	switch {
	case booleanKeys[key]:
		b, ok := normalizeBool(v)
		if !ok {
			return "", fmt.Sprintf("type check ('boolean') failed - got '%s'", v)
		}
		return b, ""
	case key == "migrate_downtime" || key == "cpulimit":
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return "", fmt.Sprintf("type check ('number') failed - got '%s'", v)
		}
	case numKeys[key]:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return "", fmt.Sprintf("type check ('integer') failed - got '%s'", v)
		}
	case key == "description":
		v = strings.TrimRight(v, " \t\r\n")
		if len(v) > maxDescription {
			return "", fmt.Sprintf("value may only be %d characters long", maxDescription)
		}
	case key == "tags":
		n, bad := normalizeTags(v)
		if bad != "" {
			return "", fmt.Sprintf("invalid format - invalid characters in tag '%s'", bad)
		}
		return n, ""
	case key == "name":
		if v != "" && !reDNSName.MatchString(v) {
			return "", "invalid format - value does not look like a valid DNS name"
		}
	}
	return v, ""
}

var reDNSName = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)*$`)

// jsonValue renders a stored config value the way PVE's JSON does.
func jsonValue(typ, key, v string) any {
	numKeys := qemuNumberKeys
	if typ == "lxc" {
		numKeys = lxcNumberKeys
	}
	if !numKeys[key] {
		return v
	}
	if i, err := strconv.ParseInt(v, 10, 64); err == nil {
		return i
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return f
	}
	return v
}

// configDigest is the SHA-1 of the config as PVE would write it (sorted
// key: value lines, pending section after).
func configDigest(conf, pending map[string]string, pendDel map[string]bool) string {
	h := sha1.New()
	for _, k := range sortedKeys(conf) {
		fmt.Fprintf(h, "%s: %s\n", k, conf[k])
	}
	if len(pending) > 0 || len(pendDel) > 0 {
		fmt.Fprint(h, "\n[PENDING]\n")
		for _, k := range sortedKeys(pending) {
			fmt.Fprintf(h, "%s: %s\n", k, pending[k])
		}
		for _, k := range sortedKeys(pendDel) {
			fmt.Fprintf(h, "delete: %s\n", k)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// parseSize turns PVE's size strings ("32G", "4M", "512K", "100") into bytes;
// a bare number is GiB when gib is set (disk allocation syntax), else bytes.
func parseSize(s string, gib bool) int64 {
	s = strings.TrimSpace(s)
	unit := ""
	if n := len(s); n > 0 && strings.ContainsRune("KMGT", rune(s[n-1])) {
		s, unit = s[:n-1], s[n-1:]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || strings.ContainsAny(s, "eE+-xXpP_") {
		return 0
	}
	if unit == "" && gib {
		unit = "G"
	}
	mult := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
	return int64(f * mult)
}

// formatSize renders bytes as PVE writes disk sizes.
func formatSize(b int64) string {
	switch {
	case b%(1<<40) == 0 && b >= 1<<40:
		return fmt.Sprintf("%dT", b>>40)
	case b%(1<<30) == 0:
		return fmt.Sprintf("%dG", b>>30)
	case b%(1<<20) == 0:
		return fmt.Sprintf("%dM", b>>20)
	case b%(1<<10) == 0:
		return fmt.Sprintf("%dK", b>>10)
	}
	return strconv.FormatInt(b, 10)
}

// propList splits a property string "vol,a=b,c=d" into its first element
// (volume or model=mac) and the options.
func propList(v string) (string, []string) {
	parts := strings.Split(v, ",")
	return parts[0], parts[1:]
}

// propGet returns option key of a property string.
func propGet(v, key string) string {
	_, opts := propList(v)
	for _, o := range opts {
		if k, val, ok := strings.Cut(o, "="); ok && k == key {
			return val
		}
	}
	return ""
}

// propSet replaces (or appends) option key in a property string.
func propSet(v, key, val string) string {
	head, opts := propList(v)
	out := []string{head}
	done := false
	for _, o := range opts {
		if k, _, ok := strings.Cut(o, "="); ok && k == key {
			if !done {
				out = append(out, key+"="+val)
				done = true
			}
			continue
		}
		out = append(out, o)
	}
	if !done {
		out = append(out, key+"="+val)
	}
	return strings.Join(out, ",")
}

// isDiskKey reports whether key names a drive (disk or CD-ROM) or unused
// volume (ide|sata|scsi|virtio|unused followed by digits, efidisk0, tpmstate0);
// no regexp, it is on hot paths.
func isDiskKey(key string) bool {
	switch key {
	case "efidisk0", "tpmstate0":
		return true
	}
	for _, p := range []string{"ide", "sata", "scsi", "virtio", "unused"} {
		if rest, ok := strings.CutPrefix(key, p); ok {
			return rest != "" && strings.Trim(rest, "0123456789") == ""
		}
	}
	return false
}

// isCDROM reports whether a drive value is a CD-ROM (ISO, none or cloud-init).
func isCDROM(v string) bool {
	return propGet(v, "media") == "cdrom" || strings.HasPrefix(v, "none")
}

// isCloudInit reports whether a drive value is a cloud-init drive.
func isCloudInit(v string) bool {
	vol, _ := propList(v)
	return strings.HasSuffix(vol, "-cloudinit") || strings.Contains(vol, "-cloudinit.")
}

// driveVolume returns the volume id of a disk value ("" for none/cdrom ISO
// handled by the caller).
func driveVolume(v string) string {
	vol, _ := propList(v)
	if k, val, ok := strings.Cut(vol, "="); ok && k == "file" {
		return val
	}
	return vol
}

// newMAC returns a MAC in Proxmox's OUI (BC:24:11), as PVE ≥ 8.1 generates.
func newMAC() string {
	return fmt.Sprintf("BC:24:11:%02X:%02X:%02X", rand.IntN(256), rand.IntN(256), rand.IntN(256))
}

// newUUID returns a random RFC 4122 v4 UUID.
func newUUID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rand.IntN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// withMAC gives a NIC value a MAC if it has none, or a new one if fresh.
func withMAC(v string, fresh bool) string {
	head, opts := propList(v)
	model, mac, hasMAC := strings.Cut(head, "=")
	if hasMAC && !fresh && reMAC.MatchString(mac) {
		return v
	}
	if k, val, ok := strings.Cut(head, "="); ok && k == "model" {
		model = val
	}
	var rest []string
	for _, o := range opts {
		if k, _, ok := strings.Cut(o, "="); ok && k == "macaddr" {
			continue
		}
		rest = append(rest, o)
	}
	return strings.Join(append([]string{model + "=" + newMAC()}, rest...), ",")
}

// withUUID replaces the uuid option of an smbios1 value.
func withUUID(v string) string {
	if v == "" {
		return "uuid=" + newUUID()
	}
	var out []string
	found := false
	for _, o := range strings.Split(v, ",") {
		if strings.HasPrefix(o, "uuid=") {
			o = "uuid=" + newUUID()
			found = true
		}
		out = append(out, o)
	}
	if !found {
		out = append(out, "uuid="+newUUID())
	}
	return strings.Join(out, ",")
}
