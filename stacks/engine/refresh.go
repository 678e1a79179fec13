package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
)

// Refresh reads the live state of every resource into the stack's state.
// Drifted lists the resources whose state changed.
func Refresh(ctx context.Context, opts Options) (*Result, error) {
	start := time.Now()
	s, err := open(ctx, opts, false)
	if err != nil {
		return nil, err
	}
	s.out.printf("refresh: stack %s, backend %s\n", s.opts.Stack, s.opts.Backend)
	t := newTracker(s.progress(), false, true)
	ch := make(chan events.EngineEvent)
	t.consume(ch)
	res, err := s.stack.Refresh(ctx, refreshOptions(s.opts, ch)...)
	t.finish()
	if err != nil {
		return nil, s.failed(ctx, "refresh", t, err)
	}
	r := &Result{Drifted: t.drifted}
	r.Changes = t.changes(res.Summary.ResourceChanges)
	outs, err := s.stack.Outputs(ctx)
	if err != nil {
		return nil, interrupted(ctx, "refresh", s.opts.Stack, fmt.Errorf("stack %s: read outputs: %s", s.opts.Stack, cliMessage(err)))
	}
	r.Outputs = maskOutputs(outs)
	r.Duration = time.Since(start)
	s.out.printf("%s", driftLine("refresh", s.opts.Stack, r))
	return r, nil
}

// refreshOptions are the options of the engine's refresh (also of Drift,
// which runs it as a preview).
func refreshOptions(_ Options, ch chan<- events.EngineEvent) []optrefresh.Option {
	return []optrefresh.Option{optrefresh.EventStreams(ch), optrefresh.UserAgent(userAgent)}
}
