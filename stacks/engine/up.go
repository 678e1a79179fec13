package engine

import (
	"context"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
)

// Up deploys the stack: it creates the stack when new, generates missing
// passwords, refreshes (so drift is repaired) and applies the program. A
// re-run after an interrupted Up converges (see the package doc). With
// policy packs, a preview runs them first: a mandatory violation fails Up
// before any resource is changed.
func Up(ctx context.Context, opts Options) (*Result, error) {
	start := time.Now()
	s, err := open(ctx, opts, true)
	if err != nil {
		return nil, err
	}
	if err := s.ensureSecrets(ctx); err != nil {
		return nil, interrupted(ctx, "up", s.opts.Stack, err)
	}
	if len(s.opts.PolicyPacks) > 0 {
		// The update itself checks each resource as it reaches it, after
		// the ones before it were changed; a preview with the packs first
		// refuses a violating stack before anything changes.
		s.out.printf("up: stack %s: checking policy packs in a preview first\n", s.opts.Stack)
		if _, _, err := s.preview(ctx, "up (policy preview; nothing was changed)"); err != nil {
			return nil, err
		}
	}
	s.out.printf("up: stack %s, backend %s\n", s.opts.Stack, s.opts.Backend)
	t := newTracker(s.progress(), false, false)
	ch := make(chan events.EngineEvent)
	t.consume(ch)
	res, err := s.stack.Up(ctx, upOptions(s.opts, ch)...)
	t.finish()
	if err != nil {
		return nil, s.failed(ctx, "up", t, err)
	}
	r := &Result{Outputs: maskOutputs(res.Outputs), Drifted: t.drifted}
	r.Changes = t.changes(res.Summary.ResourceChanges)
	r.Duration = time.Since(start)
	s.out.printf("%s", summaryLine("up", s.opts.Stack, r, false))
	return r, nil
}

// upOptions are the options of the engine's update: refresh first, the
// event stream, the policy packs.
func upOptions(o Options, ch chan<- events.EngineEvent) []optup.Option {
	opts := []optup.Option{optup.Refresh(), optup.EventStreams(ch), optup.UserAgent(userAgent)}
	if len(o.PolicyPacks) > 0 {
		opts = append(opts, optup.PolicyPacks(o.PolicyPacks...))
	}
	return opts
}
