package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
)

// Drift compares the live state of every resource with the stack's state
// without changing either (a refresh in preview mode). Drifted lists the
// URNs of the resources that differ (changed or gone); Changes counts them
// as the refresh would record them (update, delete, same).
func Drift(ctx context.Context, opts Options) (*Result, error) {
	start := time.Now()
	s, err := open(ctx, opts, false)
	if err != nil {
		return nil, err
	}
	s.out.printf("drift: stack %s, backend %s\n", s.opts.Stack, s.opts.Backend)
	t := newTracker(s.progress(), true, true)
	ch := make(chan events.EngineEvent)
	t.consume(ch)
	res, err := s.stack.PreviewRefresh(ctx, refreshOptions(s.opts, ch)...)
	t.finish()
	if err != nil {
		return nil, s.failed(ctx, "drift", t, err)
	}
	r := &Result{Changes: changes(res.ChangeSummary), Drifted: t.drifted, Duration: time.Since(start)}
	if r.Drifted == nil {
		r.Drifted = []string{}
	}
	s.out.printf("%s", driftLine("drift", s.opts.Stack, r))
	return r, nil
}

// driftLine is the summary of a refresh: what drifted, if anything.
func driftLine(op, stack string, r *Result) string {
	total := 0
	for _, n := range r.Changes {
		total += n
	}
	if len(r.Drifted) == 0 {
		return fmt.Sprintf("%s of stack %s: no drift in %d resource(s) (%s)\n", op, stack, total, r.Duration.Round(100*time.Millisecond))
	}
	names := make([]string, len(r.Drifted))
	for i, u := range r.Drifted {
		names[i] = name(u)
	}
	return fmt.Sprintf("%s of stack %s: %d of %d resource(s) drifted: %s (%s)\n", op, stack, len(r.Drifted), total, strings.Join(names, ", "), r.Duration.Round(100*time.Millisecond))
}
