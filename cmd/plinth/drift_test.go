package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/stacks/engine/enginetest"
	"github.com/plinth-dev/plinth/test/localcluster"
)

// engineCmd runs engine commands of one stack the way the command line
// does, with enginetest.Program in place of stacks.Program.
type engineCmd struct {
	root, pulumi, stack string
	c                   *localcluster.Cluster
}

func (e engineCmd) options(stdin string, json bool) (engineOptions, *bytes.Buffer, *bytes.Buffer) {
	var out, errOut bytes.Buffer
	g := &globalOptions{Output: outputText}
	if json {
		g.Output = outputJSON
	}
	return engineOptions{
		IO:     &IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut},
		Global: g, Stack: e.stack, Root: e.root, PulumiBinary: e.pulumi,
		Program: enginetest.Program(e.c.Kubeconfig, "plinth-"+e.stack),
	}, &out, &errOut
}

// TestEngineCommandsOnLocalCluster drives up, drift, refresh, preview and
// destroy through their run functions (confirmation, output, exit codes)
// against a local control plane with the real pulumi CLI.
func TestEngineCommandsOnLocalCluster(t *testing.T) {
	pulumi := enginetest.Toolchain(t)
	t.Setenv("PLINTH_PASSPHRASE", enginetest.Passphrase)
	c := localcluster.Start(t, localcluster.Options{Dir: t.TempDir(), Nodes: enginetest.Nodes})
	defer c.Stop()
	e := engineCmd{root: enginetest.Root(t, t.TempDir(), "cli", "blueprints/local.yaml"), pulumi: pulumi, stack: "cli", c: c}
	ctx := context.Background()
	ns := "plinth-cli"

	// up shows a preview and asks; "no" changes nothing.
	o, out, errOut := e.options("no\n", false)
	err := runUp(ctx, &upOptions{o})
	if exitCode(err) != exitFailure || !strings.Contains(err.Error(), "not confirmed") {
		t.Fatalf("declined up: %v\n%s", err, errOut)
	}
	if !strings.Contains(errOut.String(), "+ kubernetes:apps/v1:Deployment web: create") || !strings.Contains(errOut.String(), "Apply these changes to stack cli? Type yes to continue:") {
		t.Errorf("declined up showed:\n%s", errOut)
	}
	if _, err := c.KubectlE("get", "namespace", ns); err == nil {
		t.Error("a declined up created the namespace")
	}

	// "yes" deploys.
	start := time.Now()
	o, out, errOut = e.options("yes\n", false)
	if err := runUp(ctx, &upOptions{o}); err != nil {
		t.Fatalf("up: %v\n%s", err, errOut)
	}
	t.Logf("confirmed up (preview, then up): %s", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{"changes: create 5, update 0, replace 0, delete 0, same 0", "outputs:", "adminPassword  (secret)", "namespace      " + ns} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("up stdout lacks %q:\n%s", want, out)
		}
	}

	// --yes --output json: nothing to change, JSON on stdout only.
	o, out, errOut = e.options("", true)
	o.Yes = true
	if err := runUp(ctx, &upOptions{o}); err != nil {
		t.Fatalf("up --yes: %v\n%s", err, errOut)
	}
	var res engineResultJSON
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("up --output json: %v\n%s", err, out)
	}
	if res.Operation != "up" || res.Stack != "cli" || res.Changes["same"] != 5 || res.Changes["create"]+res.Changes["update"] != 0 ||
		res.Outputs["adminPassword"] != "(secret)" || !strings.HasPrefix(res.Backend, "file://") || res.Drifted == nil {
		t.Errorf("up JSON %+v", res)
	}

	// drift: 0, then 3 once the Deployment is scaled behind Plinth's back.
	o, _, errOut = e.options("", false)
	if err := runDrift(ctx, &driftOptions{o}); exitCode(err) != exitOK {
		t.Fatalf("drift before any change: %v\n%s", err, errOut)
	}
	c.Kubectl(t, "-n", ns, "scale", "deployment", enginetest.Deployment, "--replicas=3")
	o, out, errOut = e.options("", false)
	err = runDrift(ctx, &driftOptions{o})
	if exitCode(err) != exitDrift {
		t.Fatalf("drift: exit %d (%v), want %d\n%s", exitCode(err), err, exitDrift, errOut)
	}
	if !strings.Contains(out.String(), "drifted (1):\n  urn:pulumi:cli::plinth::kubernetes:apps/v1:Deployment::web\n") {
		t.Errorf("drift stdout:\n%s", out)
	}
	o, out, _ = e.options("", true)
	err = runDrift(ctx, &driftOptions{o})
	res = engineResultJSON{}
	if exitCode(err) != exitDrift || json.Unmarshal(out.Bytes(), &res) != nil || len(res.Drifted) != 1 || !strings.HasSuffix(res.Drifted[0], "::web") {
		t.Errorf("drift --output json: exit %d, %s", exitCode(err), out)
	}

	// up --yes repairs it.
	o, _, errOut = e.options("", false)
	o.Yes = true
	if err := runUp(ctx, &upOptions{o}); err != nil {
		t.Fatalf("repairing up: %v\n%s", err, errOut)
	}
	if got := strings.TrimSpace(c.Kubectl(t, "-n", ns, "get", "deployment", "web", "-o", "jsonpath={.spec.replicas}")); got != "1" {
		t.Errorf("replicas after up: %s", got)
	}
	o, _, _ = e.options("", false)
	if err := runDrift(ctx, &driftOptions{o}); exitCode(err) != exitOK {
		t.Errorf("drift after repair: %v", err)
	}
	o, out, _ = e.options("", false)
	if err := runStackRefresh(ctx, &stackRefreshOptions{o}); err != nil || !strings.Contains(out.String(), "same 5") {
		t.Errorf("refresh: %v\n%s", err, out)
	}
	o, out, _ = e.options("", false)
	if err := runPreview(ctx, &previewOptions{o}); err != nil || !strings.Contains(out.String(), "create 0, update 0, replace 0, delete 0, same 5") {
		t.Errorf("preview: %v\n%s", err, out)
	}

	// destroy asks too.
	o, out, errOut = e.options("yes\n", false)
	start = time.Now()
	if err := runDestroy(ctx, &destroyOptions{o}); err != nil {
		t.Fatalf("destroy: %v\n%s", err, errOut)
	}
	t.Logf("destroy: %s", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(errOut.String(), "Delete every resource of stack cli") || !strings.Contains(out.String(), "delete 5") {
		t.Errorf("destroy:\n%s\n%s", errOut, out)
	}
	if _, err := c.KubectlE("get", "namespace", ns); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("namespace still there after destroy: %v", err)
	}
}
