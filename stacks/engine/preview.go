package engine

import (
	"context"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
)

// Preview shows what Up would do, changing nothing but the stack's config
// (it creates the stack when new and generates missing passwords, which the
// program needs to run). It refreshes in memory first, as Up does, so
// drift shows as updates.
func Preview(ctx context.Context, opts Options) (*Result, error) {
	start := time.Now()
	s, err := open(ctx, opts, true)
	if err != nil {
		return nil, err
	}
	if err := s.ensureSecrets(ctx); err != nil {
		return nil, interrupted(ctx, "preview", s.opts.Stack, err)
	}
	s.out.printf("preview: stack %s, backend %s\n", s.opts.Stack, s.opts.Backend)
	res, t, err := s.preview(ctx, "preview")
	if err != nil {
		return nil, err
	}
	r := &Result{Changes: changes(res.ChangeSummary), Drifted: t.drifted, Duration: time.Since(start)}
	s.out.printf("%s", summaryLine("preview", s.opts.Stack, r, true))
	return r, nil
}

// preview runs the engine's preview of the opened stack with live
// progress; op names the operation in errors.
func (s *session) preview(ctx context.Context, op string) (auto.PreviewResult, *tracker, error) {
	t := newTracker(s.progress(), true, false)
	ch := make(chan events.EngineEvent)
	t.consume(ch)
	res, err := s.stack.Preview(ctx, previewOptions(s.opts, ch)...)
	t.finish()
	if err != nil {
		return res, t, s.failed(ctx, op, t, err)
	}
	return res, t, nil
}

// previewOptions are the options of the engine's preview: refresh first,
// the event stream, the policy packs.
func previewOptions(o Options, ch chan<- events.EngineEvent) []optpreview.Option {
	opts := []optpreview.Option{optpreview.Refresh(), optpreview.EventStreams(ch), optpreview.UserAgent(userAgent)}
	if len(o.PolicyPacks) > 0 {
		opts = append(opts, optpreview.PolicyPacks(o.PolicyPacks...))
	}
	return opts
}
