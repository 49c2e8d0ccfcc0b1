package kubetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// Start runs a real etcd and kube-apiserver (the binaries of Assets) on
// free loopback ports for the test, installs the custom resource
// definitions given (apiextensions.k8s.io/v1 objects), and returns a
// config for a cluster administrator (a client certificate in
// system:masters). Both processes stop when the test ends.
//
// The API server is configured as controller-runtime's envtest configures
// it (secure port only, RBAC, no ServiceAccount admission, a service
// account signing key); the harness is ours so that the tests do not link
// envtest's client, whose scheme registers every Kubernetes API group
// (about 350 packages to compile, twice: with and without the race
// detector).
func Start(t testing.TB, crds ...map[string]any) *rest.Config {
	t.Helper()
	dir := Assets(t)
	var cfg *rest.Config
	var err error
	for try := 0; try < 5; try++ { // a port picked free can be taken before the process binds it
		if cfg, err = start(t, dir); err == nil {
			break
		}
		t.Logf("start kube-apiserver (try %d): %v", try+1, err)
	}
	if err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	for _, crd := range crds {
		installCRD(t, cfg, crd)
	}
	return cfg
}

// start makes the certificates, then starts etcd and the API server and
// waits until the API server is ready.
func start(t testing.TB, assets string) (*rest.Config, error) {
	work, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = os.RemoveAll(work) })
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	etcd, err := startProcess(t, filepath.Join(assets, "etcd"), filepath.Join(work, "etcd.log"),
		"--data-dir="+filepath.Join(work, "etcd"), "--unsafe-no-fsync=true",
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls=http://127.0.0.1:"+strconv.Itoa(ports[1]))
	if err != nil {
		return nil, err
	}
	pki, err := newPKI(work)
	if err != nil {
		etcd.stop()
		return nil, err
	}
	host := "127.0.0.1:" + strconv.Itoa(ports[2])
	api, err := startProcess(t, filepath.Join(assets, "kube-apiserver"), filepath.Join(work, "kube-apiserver.log"),
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[2]),
		"--etcd-servers="+etcdURL, "--cert-dir="+work,
		"--tls-cert-file="+pki.servingCert, "--tls-private-key-file="+pki.servingKey, "--client-ca-file="+pki.caCert,
		"--service-account-issuer=https://"+host+"/", "--service-account-key-file="+pki.saKey,
		"--service-account-signing-key-file="+pki.saKey, "--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true", "--disable-admission-plugins=ServiceAccount", "--authorization-mode=RBAC")
	if err != nil {
		etcd.stop()
		return nil, err
	}
	t.Cleanup(func() { api.stop(); etcd.stop() })
	cfg := &rest.Config{Host: "https://" + host, QPS: 100, Burst: 200,
		TLSClientConfig: rest.TLSClientConfig{CAData: pki.caPEM, CertData: pki.adminCert, KeyData: pki.adminKey}}
	if err := waitReady(cfg, api, etcd); err != nil {
		api.stop()
		etcd.stop()
		return nil, err
	}
	return cfg, nil
}

// waitReady polls the API server's /readyz (every post-start hook done:
// RBAC's bootstrap roles, the default namespaces) for up to a minute.
func waitReady(cfg *rest.Config, procs ...*process) error {
	c := rest.CopyConfig(cfg)
	c.Timeout = 5 * time.Second
	hc, err := rest.HTTPClientFor(c)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	var last string
	for time.Now().Before(deadline) {
		for _, p := range procs {
			if p.exited() {
				return fmt.Errorf("%s exited: %s", filepath.Base(p.cmd.Path), p.tail())
			}
		}
		resp, err := hc.Get(cfg.Host + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready after a minute (%s): %s", last, procs[0].tail())
}

// process is a started etcd or kube-apiserver, its output in a log file.
type process struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startProcess(t testing.TB, path, logPath string, args ...string) (*process, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s: %w (scripts/kube-tools.sh builds it)", path, err)
	}
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	// Killed with the test binary, if it dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, err
	}
	p := &process{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); out.Close(); close(p.done) }()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to end (SIGTERM) and kills it after 10 s.
func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail is the end of the process's log, for errors.
func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// pki is the files and data of the test cluster's certificates: one CA
// signs the serving certificate and the administrator's client
// certificate; saKey signs service account tokens.
type pki struct {
	caCert, servingCert, servingKey, saKey string // paths
	caPEM, adminCert, adminKey             []byte
}

func newPKI(dir string) (*pki, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "suanli-kubetest-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = big.NewInt(serial), now.Add(-time.Hour), now.Add(24*time.Hour)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		return pemOf("CERTIFICATE", der), pemOf("EC PRIVATE KEY", keyDER), nil
	}
	p := &pki{caCert: filepath.Join(dir, "ca.crt"), servingCert: filepath.Join(dir, "apiserver.crt"),
		servingKey: filepath.Join(dir, "apiserver.key"), saKey: filepath.Join(dir, "sa.key"), caPEM: pemOf("CERTIFICATE", caDER)}
	servingCert, servingKey, err := leaf(2, &x509.Certificate{Subject: pkix.Name{CommonName: "kube-apiserver"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return nil, err
	}
	if p.adminCert, p.adminKey, err = leaf(3, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "admin", Organization: []string{"system:masters"}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	saDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return nil, err
	}
	for path, data := range map[string][]byte{p.caCert: p.caPEM, p.servingCert: servingCert, p.servingKey: servingKey,
		p.saKey: pemOf("EC PRIVATE KEY", saDER)} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func pemOf(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// installCRD creates a custom resource definition and waits until the API
// server serves its resource.
func installCRD(t testing.TB, cfg *rest.Config, crd map[string]any) {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obj := &unstructured.Unstructured{Object: crd}
	if _, err := dyn.Resource(crdResource).Create(ctx, obj, metavCreate); err != nil {
		t.Fatalf("create the custom resource definition %s: %v", obj.GetName(), err)
	}
	group, _, _ := unstructured.NestedString(crd, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd, "spec", "names", "plural")
	versions, _, _ := unstructured.NestedSlice(crd, "spec", "versions")
	for _, v := range versions {
		name, _, _ := unstructured.NestedString(v.(map[string]any), "name")
		gvr := schema.GroupVersionResource{Group: group, Version: name, Resource: plural}
		for {
			_, err := dyn.Resource(gvr).List(ctx, metavList)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("the API server does not serve %s after a minute: %v", gvr, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
