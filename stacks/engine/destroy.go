package engine

import (
	"context"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
)

// Destroy deletes every resource of the stack. The stack itself (its
// history and config, secrets included) is kept, so a later Up reuses the
// same passwords.
func Destroy(ctx context.Context, opts Options) (*Result, error) {
	start := time.Now()
	s, err := open(ctx, opts, false)
	if err != nil {
		return nil, err
	}
	s.out.printf("destroy: stack %s, backend %s\n", s.opts.Stack, s.opts.Backend)
	t := newTracker(s.progress(), false, false)
	ch := make(chan events.EngineEvent)
	t.consume(ch)
	res, err := s.stack.Destroy(ctx, destroyOptions(s.opts, ch)...)
	t.finish()
	if err != nil {
		return nil, s.failed(ctx, "destroy", t, err)
	}
	r := &Result{Drifted: t.drifted}
	r.Changes = t.changes(res.Summary.ResourceChanges)
	r.Duration = time.Since(start)
	s.out.printf("%s", summaryLine("destroy", s.opts.Stack, r, false))
	return r, nil
}

// destroyOptions are the options of the engine's destroy: refresh first
// (what is already gone is forgotten, not an error), the event stream.
func destroyOptions(_ Options, ch chan<- events.EngineEvent) []optdestroy.Option {
	return []optdestroy.Option{optdestroy.Refresh(), optdestroy.EventStreams(ch), optdestroy.UserAgent(userAgent)}
}
