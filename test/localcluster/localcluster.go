// Package localcluster starts a real Kubernetes control plane on 127.0.0.1
// for tests: etcd, kube-apiserver, kube-controller-manager, kube-scheduler
// and KWOK, which plays the kubelet for fake nodes (GPU nodes included, with
// nvidia.com/gpu capacity). Nothing runs containers: pods bound to a fake
// node are marked Running by KWOK. It is what Plinth's Kubernetes layer is
// proven against without a cloud account.
//
// The binaries are the pinned ones `make tools` builds (test/toolchain); the
// helpers follow Terratest's style: Foo fails the test, FooE returns the error.
//
//	c := localcluster.Start(t, localcluster.Options{Dir: t.TempDir(), Nodes: []localcluster.Node{
//		{Name: "cpu-0", CPU: "4", Memory: "16Gi"},
//		{Name: "gpu-0", GPUs: 8, InstanceType: "p4d.24xlarge", Taints: []localcluster.Taint{localcluster.GPUTaint}},
//	}})
//	defer c.Stop()
//	c.Kubectl(t, "get", "nodes") // or use c.Kubeconfig with any client
package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/plinth-dev/plinth/test/toolchain"
)

// TestingT is what the helpers need from a test: the method set of
// terratest's modules/testing.TestingT, so a *testing.T, a terratest
// TestingT or anything with these methods can be passed. When it also has
// Logf (as *testing.T does), start-up progress is logged there.
type TestingT interface {
	Fail()
	FailNow()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Error(args ...any)
	Errorf(format string, args ...any)
	Name() string
}

// ContextName is the kubeconfig context (and cluster) name of the plane; the
// shipped blueprint blueprints/local.yaml names it.
const ContextName = "plinth-local"

// ServiceClusterIPRange is the plane's service network; its first address is
// the kubernetes.default service (in the serving certificate's SANs).
const ServiceClusterIPRange = "10.0.0.0/24"

// PodCIDR is the range KWOK hands pod IPs out of.
const PodCIDR = "10.244.0.0/16"

// Controllers is the controller-manager's --controllers: everything but the
// controllers that need a cloud or real kubelets (node IPAM, node lifecycle,
// which would mark fake nodes NotReady, routes, service load balancers).
const Controllers = "*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service-lb-controller,-route"

// Component names, also the names of their log files under <Dir>/logs.
const (
	Etcd                  = toolchain.Etcd
	KubeAPIServer         = toolchain.KubeAPIServer
	KubeControllerManager = toolchain.KubeControllerManager
	KubeScheduler         = toolchain.KubeScheduler
	Kwok                  = toolchain.Kwok
	Kubectl               = toolchain.Kubectl
)

// components are the processes of a plane, in start order.
var components = []string{Etcd, KubeAPIServer, KubeControllerManager, KubeScheduler, Kwok}

// Options configures a local control plane.
type Options struct {
	// Dir holds everything the plane writes: pki/, etcd/, logs/<component>.log,
	// kubeconfig, kwok/. Empty: a new temporary directory, which Stop removes
	// (a Dir you give is left in place, logs included).
	Dir string
	// Tools says where the binaries are: one or more directories separated
	// by os.PathListSeparator. Empty: the pinned toolchain cache that
	// `make tools` fills (test/toolchain), then $PATH.
	Tools string
	// KwokStages is the directory of KWOK stage configs (*.yaml). Empty:
	// $PLINTH_KWOK_STAGES, the toolchain cache, then <kwok binary dir>/../stages.
	KwokStages string
	// Nodes are fake nodes added once the plane is up (see AddNodes).
	Nodes []Node
	// Timeout bounds the start-up, node creation included (default 90s).
	Timeout time.Duration
}

// Cluster is a running local control plane.
type Cluster struct {
	// Dir is where the plane keeps its files (Options.Dir or a temporary directory).
	Dir string
	// Kubeconfig is the path of a kubeconfig (context ContextName, admin user
	// in system:masters, certificates embedded).
	Kubeconfig string
	// Server is the API server URL, https://127.0.0.1:<port>.
	Server string
	// CAFile, CertFile and KeyFile are the CA certificate and the admin
	// client certificate and key, PEM.
	CAFile, CertFile, KeyFile string
	// Binaries maps each component (and kubectl, when found) to the binary used.
	Binaries map[string]string
	// StartupTime is how long Start took until the plane served pods (before nodes were added).
	StartupTime time.Duration

	procs    []*process
	client   *http.Client
	ownDir   bool
	logf     func(format string, args ...any)
	stopOnce sync.Once
}

// Start starts a control plane and adds opts.Nodes, failing the test on
// error. Call Stop when done (defer c.Stop()).
func Start(t TestingT, opts Options) *Cluster {
	helper(t)
	c, err := StartE(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// StartE starts a control plane and adds opts.Nodes, returning an error
// that names the component that failed and shows the end of its log. On
// error everything started is stopped again. t may be nil (no logging).
func StartE(t TestingT, opts Options) (*Cluster, error) {
	begin := time.Now()
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	c := &Cluster{Dir: opts.Dir, logf: logger(t)}
	if c.Dir == "" {
		d, err := os.MkdirTemp("", "plinth-localcluster-")
		if err != nil {
			return nil, fmt.Errorf("localcluster: %w", err)
		}
		c.Dir, c.ownDir = d, true
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	c.Dir = dir
	if err := c.start(ctx, opts, begin); err != nil {
		c.Stop()
		return nil, fmt.Errorf("localcluster: %w", err)
	}
	c.StartupTime = time.Since(begin)
	c.logf("localcluster: control plane up in %s at %s (kubeconfig %s)", c.StartupTime.Round(time.Millisecond), c.Server, c.Kubeconfig)
	if len(opts.Nodes) > 0 {
		if err := c.addNodes(ctx, opts.Nodes); err != nil {
			c.Stop()
			return nil, fmt.Errorf("localcluster: %w", err)
		}
	}
	return c, nil
}

func (c *Cluster) start(ctx context.Context, opts Options, begin time.Time) error {
	bins, err := FindBinaries(opts.Tools)
	if err != nil {
		return err
	}
	c.Binaries = bins
	stages, err := findStages(opts.KwokStages, bins[Kwok])
	if err != nil {
		return err
	}
	// A plane's etcd data is tied to its certificates and ports: refuse to
	// start over an old one rather than delete what may be wanted.
	if entries, _ := os.ReadDir(filepath.Join(c.Dir, "etcd")); len(entries) > 0 {
		return fmt.Errorf("%s already holds a control plane's data (etcd/): give an empty Dir", c.Dir)
	}
	for _, d := range []string{"logs", "etcd", "kwok", "apiserver"} {
		if err := os.MkdirAll(filepath.Join(c.Dir, d), 0o700); err != nil {
			return err
		}
	}
	pk, err := newPKI(filepath.Join(c.Dir, "pki"))
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	c.CAFile, c.CertFile, c.KeyFile = pk.CACert, pk.AdminCert, pk.AdminKey
	if c.client, err = newClient(pk); err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	c.Server = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := c.writeKubeconfig(pk); err != nil {
		return err
	}

	// etcd, then the API server: each must be serving before the next starts.
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if _, err := c.run(Etcd, []string{
		"--name=plinth-local",
		"--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=plinth-local=" + peerURL,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync", // test data: durability is not wanted, speed is
		"--log-level=warn",
	}, nil); err != nil {
		return err
	}
	if err := c.waitFor(ctx, Etcd, "to serve "+etcdURL+"/health", func() bool {
		return httpOK(ctx, http.DefaultClient, etcdURL+"/health")
	}); err != nil {
		return err
	}

	if _, err := c.run(KubeAPIServer, []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", apiPort),
		"--cert-dir=" + filepath.Join(c.Dir, "apiserver"),
		"--tls-cert-file=" + pk.ServingCert,
		"--tls-private-key-file=" + pk.ServingKey,
		"--client-ca-file=" + pk.CACert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pk.SAPub,
		"--service-account-signing-key-file=" + pk.SAKey,
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		// The API server advertises 127.0.0.1, which the endpoint reconciler
		// refuses (loopback) and complains about on every pass.
		"--endpoint-reconciler-type=none",
		"--authorization-mode=RBAC",
		// Nodes registered through the API get the not-ready taint from this
		// plugin, and only the node lifecycle controller (disabled, see
		// Controllers) would take it away again.
		"--disable-admission-plugins=TaintNodesByCondition",
		"--allow-privileged=true",
		"--profiling=false",
	}, nil); err != nil {
		return err
	}
	if err := c.waitFor(ctx, KubeAPIServer, "to be ready ("+c.Server+"/readyz)", func() bool {
		return httpOK(ctx, c.client, c.Server+"/readyz")
	}); err != nil {
		return err
	}
	c.logf("localcluster: etcd and kube-apiserver ready after %s", time.Since(begin).Round(time.Millisecond))

	kc := c.Kubeconfig
	if _, err := c.run(KubeControllerManager, []string{
		"--kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=0", // no health endpoint needed; no port to allocate
		"--controllers=" + Controllers,
		"--leader-elect=false",
		"--service-account-private-key-file=" + pk.SAKey,
		"--root-ca-file=" + pk.CACert,
		"--cluster-signing-cert-file=" + pk.CACert,
		"--cluster-signing-key-file=" + pk.CAKey,
		"--cluster-name=" + ContextName,
		"--service-cluster-ip-range=" + ServiceClusterIPRange,
		"--profiling=false",
	}, nil); err != nil {
		return err
	}
	if _, err := c.run(KubeScheduler, []string{
		"--kubeconfig=" + kc,
		"--authentication-kubeconfig=" + kc,
		"--authorization-kubeconfig=" + kc,
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		"--leader-elect=false",
		"--profiling=false",
	}, nil); err != nil {
		return err
	}
	kwokArgs := []string{
		"--kubeconfig=" + kc,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + FakeNodeAnnotation + "=" + FakeNodeValue,
		"--cidr=" + PodCIDR,
	}
	for _, s := range stages {
		kwokArgs = append(kwokArgs, "--config="+s)
	}
	// KWOK_WORKDIR keeps KWOK from reading the user's ~/.kwok/kwok.yaml.
	if _, err := c.run(Kwok, kwokArgs, []string{"KWOK_WORKDIR=" + filepath.Join(c.Dir, "kwok")}); err != nil {
		return err
	}

	// Pods are refused until their namespace has the default ServiceAccount,
	// which the controller-manager creates: once it is there, the plane works.
	if err := c.waitFor(ctx, KubeControllerManager, "to create the default ServiceAccount", func() bool {
		return httpOK(ctx, c.client, c.Server+"/api/v1/namespaces/default/serviceaccounts/default")
	}); err != nil {
		return err
	}
	return nil
}

// run starts one component with its log under <Dir>/logs.
func (c *Cluster) run(name string, args, extraEnv []string) (*process, error) {
	env := append(os.Environ(), extraEnv...)
	p, err := startProcess(name, c.Binaries[name], args, env, filepath.Join(c.Dir, "logs", name+".log"))
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	c.logf("localcluster: started %s (pid %d)", name, p.cmd.Process.Pid)
	return p, nil
}

// waitFor polls ready until it returns true. It fails early, naming the
// component, when any started process exits, and on timeout names who.
func (c *Cluster) waitFor(ctx context.Context, who, what string, ready func() bool) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, p := range c.procs {
			if p.exited() {
				return p.failure("exited during start-up")
			}
		}
		if ready() {
			return nil
		}
		select {
		case <-ctx.Done():
			for _, p := range c.procs {
				if p.name == who {
					return p.failure("timed out waiting " + what)
				}
			}
			return fmt.Errorf("timed out waiting for %s %s", who, what)
		case <-tick.C:
		}
	}
}

// Stop stops every process the plane started (SIGTERM, then SIGKILL after
// 10s) and waits for them to exit: the API server's clients together, then
// the API server, then etcd. It removes Dir only when Start created it.
// Calling it again does nothing.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		const grace = 10 * time.Second
		var wg sync.WaitGroup
		var servers []*process
		for _, p := range c.procs {
			if p.name == Etcd || p.name == KubeAPIServer {
				servers = append(servers, p)
				continue
			}
			wg.Go(func() { p.stop(grace) })
		}
		wg.Wait()
		for i := len(servers) - 1; i >= 0; i-- {
			servers[i].stop(grace)
		}
		if c.ownDir {
			_ = os.RemoveAll(c.Dir)
		}
	})
}

// PIDs returns the process id of each component.
func (c *Cluster) PIDs() map[string]int {
	m := map[string]int{}
	for _, p := range c.procs {
		m[p.name] = p.cmd.Process.Pid
	}
	return m
}

// LogFile returns the path of a component's log.
func (c *Cluster) LogFile(component string) string {
	return filepath.Join(c.Dir, "logs", component+".log")
}

// Env returns os.Environ() with KUBECONFIG set to the plane's kubeconfig.
func (c *Cluster) Env() []string {
	env := slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "KUBECONFIG=") })
	return append(env, "KUBECONFIG="+c.Kubeconfig)
}

// Kubectl runs kubectl against the plane and returns its standard output,
// failing the test on error.
func (c *Cluster) Kubectl(t TestingT, args ...string) string {
	helper(t)
	out, err := c.KubectlE(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// KubectlE runs kubectl against the plane and returns its standard output;
// the error carries its standard error.
func (c *Cluster) KubectlE(args ...string) (string, error) {
	return c.KubectlInputE("", args...)
}

// KubectlInput is Kubectl with stdin as kubectl's standard input (for
// `apply -f -`), failing the test on error.
func (c *Cluster) KubectlInput(t TestingT, stdin string, args ...string) string {
	helper(t)
	out, err := c.KubectlInputE(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// KubectlInputE is KubectlE with stdin as kubectl's standard input.
func (c *Cluster) KubectlInputE(stdin string, args ...string) (string, error) {
	bin := c.Binaries[Kubectl]
	if bin == "" {
		return "", fmt.Errorf("localcluster: kubectl not found (run `make tools`)")
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)...)
	cmd.Env = c.Env()
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// GetJSONE reads an API path (e.g. /api/v1/nodes) as the admin user and
// decodes the JSON answer into out.
func (c *Cluster) GetJSONE(path string, out any) error {
	return c.request(context.Background(), http.MethodGet, path, nil, out)
}

// request sends one API request as the admin user; body (if not nil) is
// sent as JSON and a 2xx answer is decoded into out (if not nil).
func (c *Cluster) request(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = strings.NewReader(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Server+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		ct := "application/json"
		if method == http.MethodPatch {
			ct = "application/merge-patch+json"
		}
		req.Header.Set("Content-Type", ct)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return &APIError{Method: method, Path: path, StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(data))}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

// APIError is a non-2xx answer of the API server.
type APIError struct {
	Method, Path string
	StatusCode   int
	Body         string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.StatusCode, e.Body)
}

func newClient(pk *pki) (*http.Client, error) {
	caPEM, err := os.ReadFile(pk.CACert)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("CA certificate: no PEM data")
	}
	cert, err := tls.LoadX509KeyPair(pk.AdminCert, pk.AdminKey)
	if err != nil {
		return nil, fmt.Errorf("admin client certificate: %w", err)
	}
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs:      pool,
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
		}},
	}, nil
}

// httpOK reports whether GET url answers 200.
func httpOK(ctx context.Context, client *http.Client, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// writeKubeconfig writes a self-contained kubeconfig (certificates embedded).
func (c *Cluster) writeKubeconfig(pk *pki) error {
	b64 := func(path string) (string, error) {
		data, err := os.ReadFile(path)
		return base64.StdEncoding.EncodeToString(data), err
	}
	ca, err := b64(pk.CACert)
	if err != nil {
		return err
	}
	cert, err := b64(pk.AdminCert)
	if err != nil {
		return err
	}
	key, err := b64(pk.AdminKey)
	if err != nil {
		return err
	}
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority-data: %[3]s
users:
- name: %[4]s
  user:
    client-certificate-data: %[5]s
    client-key-data: %[6]s
contexts:
- name: %[1]s
  context:
    cluster: %[1]s
    user: %[4]s
    namespace: default
current-context: %[1]s
`, ContextName, c.Server, ca, AdminUser, cert, key)
	return os.WriteFile(c.Kubeconfig, []byte(kubeconfig), 0o600)
}

// FindBinaries returns the binary Start would use for each component (and
// kubectl, which is optional) given Options.Tools: the directories in tools,
// or when empty the toolchain cache then $PATH. The error lists what is
// missing.
func FindBinaries(tools string) (map[string]string, error) {
	var dirs []string
	if tools != "" {
		dirs = filepath.SplitList(tools)
	} else {
		dirs = append(toolchain.BinDirs(), filepath.SplitList(os.Getenv("PATH"))...)
	}
	bins := map[string]string{}
	var missing []string
	for _, name := range append(slices.Clone(components), Kubectl) {
		p, err := lookTool(name, dirs)
		if err != nil {
			if name != Kubectl {
				missing = append(missing, name)
			}
			continue
		}
		bins[name] = p
	}
	if len(missing) > 0 {
		where := "the toolchain cache " + toolchain.CacheDir() + " or $PATH"
		if tools != "" {
			where = tools
		}
		return nil, fmt.Errorf("%s not found in %s: run `make tools`", strings.Join(missing, ", "), where)
	}
	return bins, nil
}

func lookTool(name string, dirs []string) (string, error) {
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", errNotFound
}

// MissingTools returns the components (of etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok, and KWOK's stage configs)
// that Start would not find with these Options.Tools/KwokStages values;
// tests skip when it is not empty.
func MissingTools(tools, kwokStages string) []string {
	var dirs []string
	if tools != "" {
		dirs = filepath.SplitList(tools)
	} else {
		dirs = append(toolchain.BinDirs(), filepath.SplitList(os.Getenv("PATH"))...)
	}
	var missing []string
	kwok := ""
	for _, name := range components {
		p, err := lookTool(name, dirs)
		if err != nil {
			missing = append(missing, name)
		}
		if name == Kwok {
			kwok = p
		}
	}
	if kwok != "" {
		if _, err := findStages(kwokStages, kwok); err != nil {
			missing = append(missing, "kwok stage configs")
		}
	}
	return missing
}

// findStages returns the KWOK stage config files to load.
func findStages(dir, kwokBin string) ([]string, error) {
	candidates := []string{dir}
	if dir == "" {
		candidates = []string{os.Getenv("PLINTH_KWOK_STAGES"), toolchain.KwokStagesDir()}
		if kwokBin != "" {
			candidates = append(candidates, filepath.Join(filepath.Dir(filepath.Dir(kwokBin)), "stages"))
		}
	}
	for _, d := range candidates {
		if d == "" {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(d, "*.yaml"))
		if len(files) > 0 {
			slices.Sort(files)
			return files, nil
		}
	}
	return nil, fmt.Errorf("no KWOK stage configs (*.yaml) in %s: run `make tools`", strings.Join(slices.DeleteFunc(candidates, func(s string) bool { return s == "" }), " or "))
}

// helper marks the caller as a test helper when t supports it.
func helper(t TestingT) {
	if h, ok := t.(interface{ Helper() }); ok {
		h.Helper()
	}
}

// logger returns t.Logf when t has it, else a no-op.
func logger(t TestingT) func(string, ...any) {
	if l, ok := t.(interface{ Logf(string, ...any) }); ok && t != nil {
		return l.Logf
	}
	return func(string, ...any) {}
}
