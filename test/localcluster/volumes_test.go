package localcluster_test

import (
	"strings"
	"testing"
	"time"

	"github.com/plinth-dev/plinth/test/localcluster"
)

// TestVolumesBindClaims: a claim stays Pending on a plane without volumes
// and binds once AddVolumes has made one (the real PV controller binds it),
// and a pod using it is scheduled and run.
func TestVolumesBindClaims(t *testing.T) {
	requireTools(t)
	c := localcluster.Start(t, localcluster.Options{Dir: t.TempDir(), Nodes: []localcluster.Node{cpuNode}})
	defer c.Stop()

	c.KubectlInput(t, `apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 5Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: uses-data, namespace: default}
spec:
  containers: [{name: main, image: busybox}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
`, "apply", "-f", "-")
	time.Sleep(2 * time.Second)
	if phase := c.Kubectl(t, "get", "pvc", "data", "-o", "jsonpath={.status.phase}"); phase != "Pending" {
		t.Fatalf("claim is %q with no volume in the cluster, want Pending", phase)
	}

	c.AddVolumes(t, 2, "10Gi")
	c.Kubectl(t, "wait", "--for=jsonpath={.status.phase}=Bound", "--timeout=60s", "pvc/data")
	c.Kubectl(t, "wait", "--for=condition=Ready", "--timeout=60s", "pod/uses-data")
	pvs := c.Kubectl(t, "get", "pv", "-l", localcluster.VolumeLabel+"=true", "-o", "jsonpath={range .items[*]}{.status.phase}{\" \"}{end}")
	if got := strings.Fields(pvs); len(got) != 2 || !strings.Contains(pvs, "Bound") || !strings.Contains(pvs, "Available") {
		t.Errorf("volumes are %q, want one Bound and one Available", pvs)
	}
}
