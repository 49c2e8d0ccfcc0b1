//go:build linux

package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/store/etcdtest"
)

// netSpec is the network of the suite: every node of sites pa and sa is
// served by an agent the suite runs (pa: the process executor, real
// worker processes; sa: simulated workers); site big (16,384 cards, the
// largest pool) has no agents, so its placements stay placed: the
// well-behaved probe jobs go there and show whether scheduling moves.
const netSpec = `
name: chaos
sites:
- id: pa
  region: West
  operator: China Telecom
  province: Ningxia
  ownership: self-built
  pools:
  - {model: huawei-ascend-910b4, nodes: 3, cards_per_node: 8}
- id: sa
  region: South
  operator: China Mobile
  province: Guizhou
  ownership: self-built
  pools:
  - {model: cambricon-mlu370-x8, nodes: 3, cards_per_node: 8}
- id: big
  region: North
  operator: China Unicom
  province: Hebei
  ownership: self-built
  pools:
  - {model: huawei-ascend-910b4, nodes: 2048, cards_per_node: 8}
`

var auditPublicKey = regexp.MustCompile(`msg="audit log signed" public_key="?([^"\s]+)`)

// agentSpec is one agent of the suite.
type agentSpec struct {
	node, site, devices string
	simWorkloads        bool
}

var agentSpecs = []agentSpec{
	{"pa-p0-n0", "pa", "huawei-ascend-910b4x8", false},
	{"pa-p0-n1", "pa", "huawei-ascend-910b4x8", false},
	{"pa-p0-n2", "pa", "huawei-ascend-910b4x8", false},
	{"sa-p0-n0", "sa", "cambricon-mlu370-x8x8", true},
	{"sa-p0-n1", "sa", "cambricon-mlu370-x8x8", true},
	{"sa-p0-n2", "sa", "cambricon-mlu370-x8x8", true},
}

// agent is a running agent with the proxy it reaches its server through.
type agent struct {
	spec  agentSpec
	proc  *proc
	proxy *proxy
}

// replica is a server replica and its fixed address.
type replica struct {
	proc *proc
	addr string
	url  string // set once: a restarted replica serves on the same address
}

// deployment is one control plane under test: one or two server
// replicas (bolt, or etcd with an in-process 3-member cluster), six
// agents, an admin client.
type deployment struct {
	t        *testing.T
	name     string
	dir      string
	run      string // marker of this deployment's processes
	etcd     *etcdtest.Cluster
	replicas []*replica
	agents   []*agent
	admin    string            // admin token
	tenants  map[string]string // tenant → its token
	auditKey string            // public key of the audit log's signer, from the first start's log
	http     *http.Client
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// deploy starts the control plane, its tenants and its agents. With
// withEtcd it runs two replicas on a 3-member etcd cluster, else one
// replica on the embedded store.
func deploy(t *testing.T, name string, withEtcd bool) *deployment {
	t.Helper()
	d := &deployment{t: t, name: name, dir: t.TempDir(), run: name + "-" + randomID(), tenants: map[string]string{},
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	t.Cleanup(d.stop)
	netPath := writeFile(t, d.dir, "network.yaml", netSpec)
	n := 1
	var eps []string
	if withEtcd {
		d.etcd = etcdtest.Start(t, 3)
		eps = d.etcd.Endpoints()
		n = 2
	}
	for i := range n {
		addr := freeAddr(t)
		dataDir := filepath.Join(d.dir, fmt.Sprintf("server%d", i))
		args := []string{"serve", "--listen", addr, "--data-dir", dataDir, "--network", netPath}
		if withEtcd {
			args = append(args, "--etcd-endpoints", strings.Join(eps, ","), "--etcd-insecure") // loopback
		}
		if serveAuditKeyFlag {
			args = append(args, "--audit-key", filepath.Join(d.dir, "audit.key"))
		}
		r := &replica{addr: addr, proc: &proc{name: fmt.Sprintf("server%d", i), args: args,
			log: filepath.Join(d.dir, fmt.Sprintf("server%d.log", i))}}
		u, err := startServer(r.proc)
		if err != nil {
			t.Fatal(err)
		}
		r.url = u
		d.replicas = append(d.replicas, r)
		if i == 0 {
			// The audit key's public half, as an operator keeps it for
			// `suanli audit verify --key` (servers that sign the log).
			if m := auditPublicKey.FindStringSubmatch(tail(r.proc.log, 64<<10)); m != nil {
				d.auditKey = m[1]
			} else if serveAuditKeyFlag {
				t.Fatalf("server0 signs its audit log (--audit-key) but logged no public key:\n%s", tail(r.proc.log, 2000))
			}
			tok, err := os.ReadFile(filepath.Join(dataDir, "admin.token"))
			if err != nil {
				t.Fatalf("admin token: %v", err)
			}
			d.admin = strings.TrimSpace(string(tok))
		}
	}
	ctx := context.Background()
	for _, tn := range []string{tenantProc, tenantSim, tenantProbe, tenantMallory} {
		if _, err := d.client(0).PutTenant(ctx, v1.Tenant{ID: tn, Class: "private"}); err != nil {
			t.Fatalf("tenant %s: %v", tn, err)
		}
		tok, err := d.client(0).CreateToken(ctx, v1.TokenRequest{Role: v1.RoleTenant, Tenant: tn, Name: tn})
		if err != nil {
			t.Fatalf("token of tenant %s: %v", tn, err)
		}
		d.tenants[tn] = tok.Secret
	}
	for i, s := range agentSpecs {
		tok, err := d.agentToken(ctx, s.node)
		if err != nil {
			t.Fatalf("agent token for %s: %v", s.node, err)
		}
		r := d.replicas[i%len(d.replicas)]
		px, err := newProxy(r.addr)
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"agent", "--server", px.url(), "--token-file", writeFile(t, d.dir, s.node+".token", tok.Secret),
			"--node", s.node, "--site", s.site, "--simulate", s.devices, "--heartbeat", "1s", "--grace", "5s"}
		if s.simWorkloads {
			args = append(args, "--simulate-workloads")
		}
		if agentDataDirFlag {
			args = append(args, "--data-dir", filepath.Join(d.dir, s.node))
		}
		a := &agent{spec: s, proxy: px, proc: &proc{name: s.node, args: args,
			env: []string{envRun + "=" + d.run, envNode + "=" + s.node}, log: filepath.Join(d.dir, s.node+".log")}}
		if _, err := a.proc.start(false); err != nil {
			t.Fatal(err)
		}
		d.agents = append(d.agents, a)
	}
	d.waitNodesReady(30 * time.Second)
	return d
}

// agentToken asks for an agent token bound to one node.
func (d *deployment) agentToken(ctx context.Context, node string) (*v1.Token, error) {
	return d.client(0).CreateToken(ctx, v1.TokenRequest{Role: v1.RoleAgent, Name: node, Node: node})
}

// waitNodesReady waits until every agent's node is registered and ready.
func (d *deployment) waitNodesReady(timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ready := 0
		for _, site := range []string{"pa", "sa"} {
			ns, err := d.client(0).Nodes(context.Background(), site)
			if err == nil {
				for _, n := range ns {
					if n.State == "ready" {
						ready++
					}
				}
			}
		}
		if ready == len(agentSpecs) {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("%d of %d agent nodes ready after %v; agent log tail:\n%s", ready, len(agentSpecs), timeout,
				tail(d.agents[0].proc.log, 1500))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// client is an admin client of replica i (of the first live one when i
// is out of range).
func (d *deployment) client(i int) *v1.Client {
	c := v1.NewClient(d.replicas[i%len(d.replicas)].url, d.admin)
	c.HTTP = d.http
	return c
}

// as is a client of replica i with tenant's token.
func (d *deployment) as(tenant string, i int) *v1.Client {
	c := v1.NewClient(d.replicas[i%len(d.replicas)].url, d.tenants[tenant])
	c.HTTP = d.http
	return c
}

// clients are admin clients of every replica.
func (d *deployment) clients() []*v1.Client {
	var cs []*v1.Client
	for i := range d.replicas {
		cs = append(cs, d.client(i))
	}
	return cs
}

// stop ends every process of the deployment, the workers its agents left
// behind included.
func (d *deployment) stop() {
	var wg sync.WaitGroup
	for _, a := range d.agents {
		wg.Go(func() { a.proc.kill(); a.proxy.close() })
	}
	for _, r := range d.replicas {
		wg.Go(r.proc.kill)
	}
	wg.Wait()
	killRun(d.run)
}

// leaderOf returns the index of a replica whose /readyz says it leads and
// the store answers, or -1.
func (d *deployment) leaderOf(ctx context.Context) int {
	for i, c := range d.clients() {
		var h v1.Health
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		err := c.Get(cctx, "/readyz", &h)
		cancel()
		if err == nil && h.Leader && h.Status == "ok" {
			return i
		}
	}
	return -1
}
