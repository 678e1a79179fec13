package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"
)

// VolumeLabel marks the PersistentVolumes AddVolumes creates.
const VolumeLabel = "localcluster.plinth.dev/volume"

// AddVolumes creates n PersistentVolumes of size each and fails the test
// on error. See AddVolumesE.
func (c *Cluster) AddVolumes(t TestingT, n int, size string) {
	helper(t)
	if err := c.AddVolumesE(n, size); err != nil {
		t.Fatal(err)
	}
}

// AddVolumesE creates n PersistentVolumes of size each (a quantity such as
// 50Gi), so that PersistentVolumeClaims bind on a plane that has no storage
// provisioner: static provisioning, as on a cluster whose administrator
// made the volumes in advance. The volumes have no storage class (claims
// without one, on a cluster without a default class, bind to them),
// ReadWriteOnce, hostPath under the plane's directory (nothing is mounted:
// KWOK runs no containers), and reclaim policy Retain. The claims are bound
// by the real PV controller of kube-controller-manager; it waits until the
// volumes are Available.
func (c *Cluster) AddVolumesE(n int, size string) error {
	if n <= 0 {
		return errors.New("localcluster: AddVolumes needs a positive count")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var names []string
	for i := range n {
		name := fmt.Sprintf("local-volume-%03d", i)
		pv := map[string]any{
			"apiVersion": "v1",
			"kind":       "PersistentVolume",
			"metadata":   map[string]any{"name": name, "labels": map[string]string{VolumeLabel: "true"}},
			"spec": map[string]any{
				"capacity":                      map[string]string{"storage": size},
				"accessModes":                   []string{"ReadWriteOnce"},
				"persistentVolumeReclaimPolicy": "Retain",
				"hostPath":                      map[string]string{"path": filepath.Join(c.Dir, "volumes", name), "type": "DirectoryOrCreate"},
			},
		}
		if err := c.request(ctx, http.MethodPost, "/api/v1/persistentvolumes", pv, nil); err != nil {
			return fmt.Errorf("localcluster: create volume %s: %w", name, err)
		}
		names = append(names, name)
	}
	for _, name := range names {
		path := "/api/v1/persistentvolumes/" + name
		if err := c.waitFor(ctx, KubeControllerManager, "to make volume "+name+" Available", func() bool {
			var got struct {
				Status struct {
					Phase string `json:"phase"`
				} `json:"status"`
			}
			return c.request(ctx, http.MethodGet, path, nil, &got) == nil && (got.Status.Phase == "Available" || got.Status.Phase == "Bound")
		}); err != nil {
			return err
		}
	}
	c.logf("localcluster: %d volume(s) of %s Available", n, size)
	return nil
}
