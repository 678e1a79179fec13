package engine

import (
	"context"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
)

// userAgent names Plinth to the engine (update metadata).
const userAgent = "plinth"

// maskOutputs returns the stack outputs with secret values masked.
func maskOutputs(outs auto.OutputMap) map[string]any {
	m := make(map[string]any, len(outs))
	for k, v := range outs {
		if v.Secret {
			m[k] = masked
			continue
		}
		m[k] = v.Value
	}
	return m
}

// failed turns an operation's error into InterruptedError (context
// cancelled), LockedError (another operation holds the stack's lock) or
// OperationError (with the engine's error diagnostics).
func (s *session) failed(ctx context.Context, op string, t *tracker, err error) error {
	if ctx.Err() != nil {
		return &InterruptedError{Op: op, Stack: s.opts.Stack, Err: err}
	}
	if le := s.lockedError(err); le != nil {
		return le
	}
	return &OperationError{Op: op, Stack: s.opts.Stack, Diagnostics: t.diagnostics(), Err: err}
}
