package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// recover clears the pending operations an interrupted operation can leave
// in the state (steps the engine started and never saw finish), saying
// what it cleared. (Stale locks are cleared earlier, by clearStaleLocks.) Up refreshes before it
// changes anything, so the live state is read again either way.
func (s *session) recover(ctx context.Context) error {
	d, err := s.export(ctx)
	if err != nil {
		return err
	}
	if len(d.pending) > 0 {
		for _, p := range d.pending {
			s.out.printf("clearing pending operation from an interrupted update: %s %s\n", p.Type, p.Resource.URN)
		}
		if err := s.stack.Import(ctx, d.withoutPending()); err != nil {
			return fmt.Errorf("stack %s: clear pending operations: %s", s.opts.Stack, cliMessage(err))
		}
		s.out.printf("cleared %d pending operation(s); the refresh before the update reconciles the stack with what exists\n", len(d.pending))
		d.pending = nil
	}
	s.state = d
	return nil
}

// deployment is a stack's exported state, secrets left encrypted.
type deployment struct {
	version   int
	raw       map[string]json.RawMessage
	resources []stateResource
	pending   []pendingOperation
}

type stateResource struct {
	URN  string `json:"urn"`
	Type string `json:"type"`
}

type pendingOperation struct {
	Resource stateResource `json:"resource"`
	Type     string        `json:"type"`
}

// deployed reports whether the stack holds any resource.
func (d *deployment) deployed() bool { return d != nil && len(d.resources) > 0 }

// export reads the stack's state without decrypting secrets (the
// Automation API's Export shows them, and Import would write them to a
// temporary file in clear).
func (s *session) export(ctx context.Context) (*deployment, error) {
	out, err := s.cliRun(ctx, "stack", "export", "--stack", s.opts.Stack)
	if err != nil {
		return nil, fmt.Errorf("stack %s: %w", s.opts.Stack, err)
	}
	return parseDeployment([]byte(out))
}

func parseDeployment(data []byte) (*deployment, error) {
	var u apitype.UntypedDeployment
	if err := json.Unmarshal(data, &u); err != nil {
		return nil, fmt.Errorf("stack export: %w", err)
	}
	d := &deployment{version: u.Version, raw: map[string]json.RawMessage{}}
	if len(u.Deployment) == 0 {
		return d, nil
	}
	if err := json.Unmarshal(u.Deployment, &d.raw); err != nil {
		return nil, fmt.Errorf("stack export: %w", err)
	}
	if r, ok := d.raw["resources"]; ok {
		if err := json.Unmarshal(r, &d.resources); err != nil {
			return nil, fmt.Errorf("stack export: resources: %w", err)
		}
	}
	if p, ok := d.raw["pending_operations"]; ok {
		if err := json.Unmarshal(p, &d.pending); err != nil {
			return nil, fmt.Errorf("stack export: pending_operations: %w", err)
		}
	}
	return d, nil
}

// withoutPending is the deployment with its pending operations removed.
func (d *deployment) withoutPending() apitype.UntypedDeployment {
	raw := make(map[string]json.RawMessage, len(d.raw))
	for k, v := range d.raw {
		if k != "pending_operations" {
			raw[k] = v
		}
	}
	data, _ := json.Marshal(raw) // re-marshalling raw messages cannot fail
	return apitype.UntypedDeployment{Version: d.version, Deployment: data}
}

// lockContent is what the file backend writes in a lock
// (.pulumi/locks/.../<stack>/<id>.json).
type lockContent struct {
	Pid       int       `json:"pid"`
	Username  string    `json:"username"`
	Hostname  string    `json:"hostname"`
	Timestamp time.Time `json:"timestamp"`
}

// stackLock is one lock file of a stack in a file backend.
type stackLock struct {
	path string
	lockContent
}

// stackLocks reads the locks of a stack in a file backend
// (.pulumi/locks/organization/plinth/<stack>/<id>.json, or the legacy
// .pulumi/locks/<stack>/<id>.json).
func stackLocks(backendDir, stack string) ([]stackLock, error) {
	root := filepath.Join(backendDir, ".pulumi", "locks")
	var locks []stackLock
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return filepath.SkipAll
		}
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		if e.IsDir() || filepath.Ext(path) != ".json" || filepath.Base(dir) != stack {
			return nil
		}
		if filepath.Base(filepath.Dir(dir)) != "plinth" && filepath.Dir(dir) != root {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		l := stackLock{path: path}
		if err := json.Unmarshal(data, &l.lockContent); err != nil {
			return fmt.Errorf("lock %s: %w", path, err)
		}
		locks = append(locks, l)
		return nil
	})
	return locks, err
}

// clearStaleLocks removes the stack's locks taken on this host by a
// process that no longer runs (a CLI killed mid-update could not unlock),
// saying so, and fails when a lock is held by a running process or by one
// on another host (which cannot be told dead from here). Only file
// backends can be checked; elsewhere the operation reports a lock itself.
func (s *session) clearStaleLocks() error {
	dir := localPath(s.opts.Backend)
	if dir == "" {
		return nil
	}
	locks, err := stackLocks(dir, s.opts.Stack)
	if err != nil || len(locks) == 0 {
		return err
	}
	host, _ := os.Hostname()
	var live []string
	var stale []stackLock
	for _, l := range locks {
		if l.Hostname == host && !alive(l.Pid) {
			stale = append(stale, l)
		} else {
			live = append(live, l.String())
		}
	}
	if len(live) > 0 {
		return &LockedError{Stack: s.opts.Stack, Locks: live, WorkDir: s.workDir, Backend: s.opts.Backend}
	}
	for _, l := range stale {
		if err := os.Remove(l.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("stack %s: remove stale lock: %w", s.opts.Stack, err)
		}
		s.out.printf("cleared stale lock of an interrupted update (%s, no longer running)\n", l)
	}
	return nil
}

func (l stackLock) String() string {
	return fmt.Sprintf("pid %d of %s on %s at %s", l.Pid, l.Username, l.Hostname, l.Timestamp.Format(time.RFC3339))
}
