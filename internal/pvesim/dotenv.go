package pvesim

import (
	"fmt"
	"slices"
	"strings"
)

// Storages returns the cluster's storages.
func (c *Cluster) Storages() []StorageSpec {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return slices.Clone(c.storages)
}

// firstStorage is the first storage holding content ("" if none).
func (c *Cluster) firstStorage(content string) string {
	for _, st := range c.Storages() {
		if hasContent(st, content) {
			return st.Name
		}
	}
	return ""
}

// Env returns the connection settings in templated's .env variables, in
// file order: PROXMOX_URL, PROXMOX_TOKEN_ID, PROXMOX_TOKEN_SECRET,
// PROXMOX_NODE, PROXMOX_STORAGE, PROXMOX_ISO_STORAGE, PROXMOX_CA_FILE.
func (s *Server) Env() [][2]string {
	return [][2]string{
		{"PROXMOX_URL", s.URL()},
		{"PROXMOX_TOKEN_ID", s.TokenID()},
		{"PROXMOX_TOKEN_SECRET", s.TokenSecret()},
		{"PROXMOX_NODE", s.Node()},
		{"PROXMOX_STORAGE", s.cluster.firstStorage("images")},
		{"PROXMOX_ISO_STORAGE", s.cluster.firstStorage("iso")},
		{"PROXMOX_CA_FILE", s.CAFile()},
	}
}

// DotEnv renders Env as a .env file.
func (s *Server) DotEnv() string {
	var b strings.Builder
	for _, kv := range s.Env() {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
	}
	return b.String()
}
