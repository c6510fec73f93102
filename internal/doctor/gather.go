package doctor

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"templated/internal/proxmox"
	"templated/internal/state"
)

// Cluster is what doctor reads of Proxmox (*proxmox.Client).
type Cluster interface {
	ServerCertificate(ctx context.Context) (proxmox.Certificate, error)
	Version(ctx context.Context) (string, error)
	Permissions(ctx context.Context) (proxmox.Permissions, error)
	ClusterStatus(ctx context.Context) ([]proxmox.Member, error)
	NextIDRange(ctx context.Context) (proxmox.NextID, error)
	ListGuests(ctx context.Context) ([]state.Guest, error)
	NodeTime(ctx context.Context, node string) (time.Time, error)
	Storages(ctx context.Context, node string) ([]proxmox.StorageState, error)
	Volumes(ctx context.Context, node, storage, content string) ([]string, error)
	Stats() proxmox.Stats
}

// Input is what Gather looks at.
type Input struct {
	Desired    *state.Desired
	PackerRoot string
	// Conn is the connection as configured; ConnErr why it could not be
	// read (then Cluster is nil).
	Conn    proxmox.Config
	ConnErr error
	Cluster Cluster
	Packer  Packer
	// KeyPath is the ledger's signing key, EvidenceDir its evidence root,
	// StateDir the state directory.
	KeyPath, EvidenceDir, StateDir string
	// Now is the control node's clock (default time.Now).
	Now func() time.Time
	Log logrus.FieldLogger
}

// Gather reads the cluster and the control node. The cluster requests
// are 5 (version, permissions, cluster status, options, resources) plus,
// per online node the templates use, 2 (time, storages) and one content
// listing per ISO storage iso builds use there: they grow with nodes and
// storages, never with templates.
func Gather(ctx context.Context, in Input) *Snapshot {
	now := in.Now
	if now == nil {
		now = time.Now
	}
	s := &Snapshot{Now: now(), Ranges: in.Desired.VMIDs}
	for _, t := range in.Desired.Templates {
		s.Templates = append(s.Templates, templateNeeds(in.PackerRoot, t, in.Desired.Images))
	}
	s.Conn = Conn{URL: in.Conn.URL, TokenID: in.Conn.TokenID, CAFile: in.Conn.CAFile, Insecure: in.Conn.InsecureSkipTLSVerify}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.Local = gatherLocal(ctx, in)
	}()
	if in.ConnErr != nil {
		s.Conn.Err = in.ConnErr.Error()
	} else if in.Cluster != nil {
		s.API = gatherAPI(ctx, in.Cluster, s, now)
	}
	wg.Wait()
	return s
}

func gatherAPI(ctx context.Context, c Cluster, s *Snapshot, now func() time.Time) *API {
	a := &API{Nodes: map[string]*Node{}}
	before := c.Stats().Requests
	defer func() { a.Requests = c.Stats().Requests - before }()
	var err error
	if a.Cert, err = c.ServerCertificate(ctx); err != nil {
		a.CertErr = problem(err)
		return a
	}
	if a.Version, err = c.Version(ctx); err != nil {
		a.VersionErr = problem(err)
		return a
	}
	// The cluster-wide reads are independent: one round trip's wait.
	var wg sync.WaitGroup
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	run(func() { err1(&a.PermsErr, func() (err error) { a.Perms, err = c.Permissions(ctx); return }) })
	run(func() { err1(&a.MembersErr, func() (err error) { a.Members, err = c.ClusterStatus(ctx); return }) })
	run(func() { err1(&a.NextIDErr, func() (err error) { a.NextID, err = c.NextIDRange(ctx); return }) })
	run(func() { err1(&a.GuestsErr, func() (err error) { a.Guests, err = c.ListGuests(ctx); return }) })
	wg.Wait()
	var mu sync.Mutex
	for _, name := range templateNodes(s) {
		if offlineOrUnknown(a, name) {
			continue
		}
		n := &Node{Volumes: map[string][]string{}, VolumesErr: map[string]*Problem{}}
		a.Nodes[name] = n
		run(func() {
			asked := now()
			t, err := c.NodeTime(ctx, name)
			n.Time, n.Asked = t, asked.Add(now().Sub(asked)/2)
			n.TimeErr = problemOrNil(err)
		})
		run(func() { err1(&n.StoragesErr, func() (err error) { n.Storages, err = c.Storages(ctx, name); return }) })
		for _, st := range isoStorages(s, name) {
			run(func() {
				vols, err := c.Volumes(ctx, name, st, "iso")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					n.VolumesErr[st] = problem(err)
					return
				}
				n.Volumes[st] = vols
			})
		}
	}
	wg.Wait()
	return a
}

// err1 runs f and keeps its error as a Problem in *dst.
func err1(dst **Problem, f func() error) { *dst = problemOrNil(f()) }

// offlineOrUnknown: the cluster status says the node is offline or not a
// member (per-node requests would only fail). Without a cluster status,
// doctor asks anyway.
func offlineOrUnknown(a *API, node string) bool {
	if a.MembersErr != nil {
		return false
	}
	i := slices.IndexFunc(a.Members, func(m proxmox.Member) bool { return m.Type == "node" && m.Name == node })
	return i < 0 || !a.Members[i].Online
}

// isoStorages are the ISO storages of the iso builds on node.
func isoStorages(s *Snapshot, node string) []string {
	var out []string
	for _, t := range s.Templates {
		if t.Build == "iso" && t.Node == node && !slices.Contains(out, t.ISOStorage) {
			out = append(out, t.ISOStorage)
		}
	}
	return out
}

func problemOrNil(err error) *Problem {
	if err == nil {
		return nil
	}
	return problem(err)
}

// problem classifies a proxmox error.
func problem(err error) *Problem {
	kind := KindOther
	var pe *proxmox.Error
	switch {
	case errors.Is(err, proxmox.ErrAuth):
		kind = KindAuth
	case errors.Is(err, proxmox.ErrTLS):
		kind = KindTLS
	case errors.Is(err, proxmox.ErrPermission):
		kind = KindPermission
	case errors.Is(err, proxmox.ErrUnreachable):
		kind = KindUnreachable
	case errors.As(err, &pe) && pe.Status >= 595 && pe.Status <= 599:
		kind = KindOffline
	}
	return &Problem{Kind: kind, Msg: err.Error()}
}
