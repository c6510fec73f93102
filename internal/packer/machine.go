package packer

import "strings"

// machineLine is one line of `packer -machine-readable` output:
// "timestamp,target,type,data...". Packer escapes commas inside data as
// "%!(PACKER_COMMA)" and newlines as a literal `\n` (packer/ui.go,
// MachineReadableUi.Machine).
type machineLine struct {
	Target string   // "null.x" for build-scoped lines, "" otherwise
	Type   string   // "ui", "artifact", "error", "version", ...
	Data   []string // unescaped
}

// parseMachine parses a machine-readable line; ok is false for anything
// else (stderr noise, panics, flag errors).
func parseMachine(line string) (m machineLine, ok bool) {
	parts := strings.Split(strings.TrimRight(line, "\r\n"), ",")
	if len(parts) < 3 || parts[0] == "" || parts[2] == "" {
		return machineLine{}, false
	}
	for _, c := range parts[0] {
		if c < '0' || c > '9' {
			return machineLine{}, false
		}
	}
	m = machineLine{Target: parts[1], Type: parts[2], Data: parts[3:]}
	for i, d := range m.Data {
		m.Data[i] = unescapeMachine(d)
	}
	return m, true
}

var machineUnescaper = strings.NewReplacer(`\n`, "\n", `\r`, "\r", "%!(PACKER_COMMA)", ",")

func unescapeMachine(s string) string { return machineUnescaper.Replace(s) }

// uiText returns the human text of a "ui" line ("ui,say,==> null.x: ...")
// and whether it is an error.
func (m machineLine) uiText() (text string, isError, ok bool) {
	if m.Type != "ui" || len(m.Data) < 2 {
		return "", false, false
	}
	switch m.Data[0] {
	case "say", "message":
		return m.Data[1], false, true
	case "error":
		return m.Data[1], true, true
	}
	return "", false, false
}

// artifactID returns the ID of an "artifact,N,id,ID" line.
func (m machineLine) artifactID() (index, id string, ok bool) {
	if m.Type != "artifact" || len(m.Data) < 3 || m.Data[1] != "id" {
		return "", "", false
	}
	return m.Data[0], m.Data[2], true
}
