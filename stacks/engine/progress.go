package engine

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
)

// redactor writes to Progress with every known secret value masked.
type redactor struct {
	mu      sync.Mutex
	w       io.Writer
	secrets []string
}

// minSecretLen keeps very short values (a "1" someone marked secret) from
// masking every digit of the output.
const minSecretLen = 4

func newRedactor(w io.Writer) *redactor { return &redactor{w: w} }

// add masks v from now on.
func (r *redactor) add(v string) {
	if len(v) < minSecretLen {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = append(r.secrets, v)
	// Longest first, so that a secret containing another is masked whole.
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
}

func (r *redactor) Write(p []byte) (int, error) {
	if r == nil || r.w == nil {
		return len(p), nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s := string(p)
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, "[secret]")
	}
	if _, err := io.WriteString(r.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (r *redactor) printf(format string, args ...any) {
	fmt.Fprintf(r, format, args...)
}

// verbs of an operation: symbol, in progress, done, planned (preview).
type verbs struct{ symbol, doing, done, plan string }

var opVerbs = map[apitype.OpType]verbs{
	apitype.OpCreate:               {"+", "creating", "created", "create"},
	apitype.OpUpdate:               {"~", "updating", "updated", "update"},
	apitype.OpDelete:               {"-", "deleting", "deleted", "delete"},
	apitype.OpReplace:              {"+-", "replacing", "replaced", "replace"},
	apitype.OpCreateReplacement:    {"++", "creating replacement", "created replacement", "create replacement"},
	apitype.OpDeleteReplaced:       {"--", "deleting original", "deleted original", "delete original"},
	apitype.OpRead:                 {">", "reading", "read", "read"},
	apitype.OpReadReplacement:      {">>", "reading replacement", "read replacement", "read replacement"},
	apitype.OpImport:               {"=>", "importing", "imported", "import"},
	apitype.OpImportReplacement:    {"=>", "importing replacement", "imported replacement", "import replacement"},
	apitype.OpDiscardReplaced:      {"-", "discarding", "discarded", "discard"},
	apitype.OpRemovePendingReplace: {"-", "removing pending replace", "removed pending replace", "remove pending replace"},
}

// tracker turns the engine's event stream into progress lines and
// collects what the Result needs: drifted resources, error diagnostics and
// the engine's summary.
type tracker struct {
	out     io.Writer
	preview bool
	// refresh is set for refresh operations (Refresh, Drift), whose update
	// and delete steps are drift, not changes.
	refresh bool
	now     func() time.Time

	started    map[string]time.Time
	drifted    []string
	seenDrift  map[string]bool
	errors     []string
	summary    *apitype.SummaryEvent
	resources  int // resource events seen
	stop, done chan struct{}
}

func newTracker(out io.Writer, preview, refresh bool) *tracker {
	return &tracker{
		out: out, preview: preview, refresh: refresh, now: time.Now,
		started: map[string]time.Time{}, seenDrift: map[string]bool{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// consume reads events until the channel is closed or finish is called.
func (t *tracker) consume(ch <-chan events.EngineEvent) {
	go func() {
		defer close(t.done)
		for {
			select {
			case e, ok := <-ch:
				if !ok {
					return
				}
				t.handle(e)
			case <-t.stop:
				return
			}
		}
	}()
}

// finish waits for the consumer after the operation returned. The
// Automation API hands every event over (unbuffered) before it returns,
// but closes the channel only when the CLI connected its event stream, so
// the consumer is told to stop rather than waiting for a close.
func (t *tracker) finish() {
	close(t.stop)
	<-t.done
}

func (t *tracker) handle(e events.EngineEvent) {
	switch {
	case e.Error != nil:
		fmt.Fprintf(t.out, "  (event stream: %v)\n", e.Error)
	case e.ResourcePreEvent != nil:
		t.resources++
		t.pre(e.ResourcePreEvent.Metadata)
	case e.ResOutputsEvent != nil:
		t.resources++
		t.outputs(e.ResOutputsEvent.Metadata)
	case e.ResOpFailedEvent != nil:
		m := e.ResOpFailedEvent.Metadata
		fmt.Fprintf(t.out, "  x %s %s: %s failed\n", m.Type, name(m.URN), m.Op)
	case e.DiagnosticEvent != nil:
		t.diagnostic(e.DiagnosticEvent)
	case e.PolicyEvent != nil:
		p := e.PolicyEvent
		where := ""
		if p.ResourceURN != "" {
			where = " (" + name(p.ResourceURN) + ")"
		}
		msg := strings.ReplaceAll(strings.TrimSpace(p.Message), "\n", "\n      ")
		fmt.Fprintf(t.out, "  policy %s: %s/%s%s: %s\n", p.EnforcementLevel, p.PolicyPackName, p.PolicyName, where, msg)
	case e.SummaryEvent != nil:
		t.summary = e.SummaryEvent
	}
}

// pre prints a step about to run (or, in a preview, planned). Unchanged
// resources and refresh reads are not shown.
func (t *tracker) pre(m apitype.StepEventMetadata) {
	if m.Op == apitype.OpSame || m.Op == apitype.OpRefresh {
		return
	}
	if t.refresh && t.preview {
		return // drift is reported from the outputs event
	}
	t.started[m.URN] = t.now()
	v := verbsOf(m.Op)
	word := v.doing
	if t.preview {
		word = v.plan
	}
	fmt.Fprintf(t.out, "  %s %s %s: %s%s\n", v.symbol, m.Type, name(m.URN), word, diffSuffix(m))
}

// outputs prints a finished step and records drift: a refresh step whose
// state changed, or, in a refresh, a resource updated or deleted.
func (t *tracker) outputs(m apitype.StepEventMetadata) {
	drift := (m.Op == apitype.OpRefresh && len(m.DetailedDiff) > 0) ||
		(t.refresh && (m.Op == apitype.OpUpdate || m.Op == apitype.OpDelete))
	if drift {
		if !t.seenDrift[m.URN] {
			t.seenDrift[m.URN] = true
			t.drifted = append(t.drifted, m.URN)
		}
		what := "drifted"
		if m.Op == apitype.OpDelete {
			what = "drifted: gone"
		}
		fmt.Fprintf(t.out, "  ~ %s %s: %s%s\n", m.Type, name(m.URN), what, diffSuffix(m))
		return
	}
	if m.Op == apitype.OpSame || m.Op == apitype.OpRefresh || t.preview {
		return
	}
	v := verbsOf(m.Op)
	took := ""
	if start, ok := t.started[m.URN]; ok {
		took = fmt.Sprintf(" (%s)", t.now().Sub(start).Round(100*time.Millisecond))
	}
	fmt.Fprintf(t.out, "  %s %s %s: %s%s\n", v.symbol, m.Type, name(m.URN), v.done, took)
}

func (t *tracker) diagnostic(d *apitype.DiagnosticEvent) {
	msg := strings.TrimSpace(d.Message)
	if d.Ephemeral || msg == "" || d.Severity == "debug" {
		return
	}
	sev := strings.TrimSuffix(d.Severity, "#err")
	if sev == "error" {
		t.errors = append(t.errors, msg)
	}
	who := ""
	if d.URN != "" {
		who = name(d.URN) + ": "
	}
	msg = strings.ReplaceAll(msg, "\n", "\n      ")
	fmt.Fprintf(t.out, "    %s: %s%s\n", sev, who, msg)
}

// diagnostics are the error messages, without the engine's generic
// "update failed" when there is a more telling one.
func (t *tracker) diagnostics() []string {
	var out []string
	for _, m := range t.errors {
		switch m {
		case "update failed", "preview failed", "refresh failed", "destroy failed":
			if len(t.errors) > 1 {
				continue
			}
		}
		out = append(out, m)
	}
	return out
}

func verbsOf(op apitype.OpType) verbs {
	if v, ok := opVerbs[op]; ok {
		return v
	}
	return verbs{"*", string(op), string(op), string(op)}
}

// diffSuffix lists the changed properties of an update.
func diffSuffix(m apitype.StepEventMetadata) string {
	keys := make([]string, 0, len(m.DetailedDiff))
	for k := range m.DetailedDiff {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		keys = append(keys, m.Diffs...)
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	return " [diff: " + strings.Join(keys, ", ") + "]"
}

// name is the resource name part of a URN.
func name(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

// changeKeys are always in Result.Changes.
var changeKeys = []string{"create", "update", "delete", "same", "replace"}

// changes normalises an engine change summary.
func changes[K ~string](m map[K]int) map[string]int {
	out := make(map[string]int, len(changeKeys))
	for _, k := range changeKeys {
		out[k] = 0
	}
	for k, n := range m {
		out[string(k)] += n
	}
	return out
}

// changes is the change summary of a finished update: the one the
// Automation API returned (recorded), else the engine's summary event,
// else all zeros.
func (t *tracker) changes(recorded *map[string]int) map[string]int {
	switch {
	case recorded != nil:
		return changes(*recorded)
	case t.summary != nil:
		return changes(t.summary.ResourceChanges)
	}
	return changes(map[string]int(nil))
}

// summaryLine is the last progress line of an operation.
func summaryLine(op, stack string, r *Result, preview bool) string {
	var parts []string
	words := map[string][2]string{
		"create":  {"created", "to create"},
		"update":  {"updated", "to update"},
		"replace": {"replaced", "to replace"},
		"delete":  {"deleted", "to delete"},
	}
	for _, k := range []string{"create", "update", "replace", "delete"} {
		if n := r.Changes[k]; n > 0 {
			w := words[k][0]
			if preview {
				w = words[k][1]
			}
			parts = append(parts, fmt.Sprintf("%d %s", n, w))
		}
	}
	if n := r.Changes["same"]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d unchanged", n))
	}
	if len(parts) == 0 {
		parts = append(parts, "no resources")
	}
	line := fmt.Sprintf("%s of stack %s: %s", op, stack, strings.Join(parts, ", "))
	if len(r.Drifted) > 0 {
		line += fmt.Sprintf("; %d drifted", len(r.Drifted))
	}
	return fmt.Sprintf("%s (%s)\n", line, r.Duration.Round(100*time.Millisecond))
}
