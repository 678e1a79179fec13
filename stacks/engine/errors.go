package engine

import (
	"errors"
	"fmt"
	"strings"
)

// ErrPassphraseRequired is matched (errors.Is) by every PassphraseError.
var ErrPassphraseRequired = errors.New("passphrase required")

// PassphraseError: the stack's secrets need a passphrase and none was given.
type PassphraseError struct {
	Stack   string
	Class   string // environment class (dev, staging, prod)
	Backend string
}

func (e *PassphraseError) Error() string {
	msg := fmt.Sprintf("stack %s (%s environment) needs a passphrase for its secrets in backend %s: set %s (or %s)",
		e.Stack, e.Class, e.Backend, EnvPassphrase, EnvPulumiPassphrase)
	if prodClass(e.Class) {
		return msg + "; a prod-class environment never gets a default passphrase"
	}
	return msg + ", or pass --insecure-passphrase to use the well-known dev passphrase " + fmt.Sprintf("%q", InsecurePassphrase) + " (dev and staging only; it protects nothing)"
}

func (e *PassphraseError) Is(target error) bool { return target == ErrPassphraseRequired }

// MissingSecretError: secrets the environment needs, which Plinth cannot
// generate (CI runner tokens), are not set.
type MissingSecretError struct {
	Stack string
	// Keys are the full config keys (plinth:gitlabRunnerToken).
	Keys []string
	// WorkDir and Backend say where the stack's config lives.
	WorkDir, Backend string
	// Lost is set when the stack was deployed but its workspace config is
	// new: passwords would be generated afresh, replacing the ones in use.
	Lost bool
}

func (e *MissingSecretError) Error() string {
	var b strings.Builder
	if e.Lost {
		fmt.Fprintf(&b, "stack %s has been deployed to %s, but its workspace config %s is new (another machine, or deleted): "+
			"its secrets (%s) would be generated afresh and replace the ones in use. Restore Pulumi.%s.yaml into %s, "+
			"or set each secret with:\n", e.Stack, e.Backend, e.WorkDir, strings.Join(e.Keys, ", "), e.Stack, e.WorkDir)
	} else {
		fmt.Fprintf(&b, "stack %s: secret(s) %s not set (Plinth cannot generate them); set each in the stack's config with:\n",
			e.Stack, strings.Join(e.Keys, ", "))
	}
	for i, k := range e.Keys {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "  PULUMI_BACKEND_URL=%s pulumi config set --secret --cwd %s --stack %s %s <value>", shellQuote(e.Backend), shellQuote(e.WorkDir), e.Stack, k)
	}
	return b.String()
}

// NotDeployedError: the stack has no state in the backend.
type NotDeployedError struct {
	Stack, Backend string
}

func (e *NotDeployedError) Error() string {
	return fmt.Sprintf("stack %s has no state in backend %s: nothing deployed (run plinth up --stack %s first)", e.Stack, e.Backend, e.Stack)
}

// LockedError: another process holds the stack's lock, on this host and
// running, or on another host (where Plinth cannot tell).
type LockedError struct {
	Stack string
	Locks []string // "pid 123 of user on host at 2026-11-26T02:00:00Z"
	// WorkDir and Backend say where the stack is, for the cancel command.
	WorkDir, Backend string
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("stack %s is locked by another operation (%s): wait for it to end; if it is known to be gone, remove the lock with:\n"+
		"  PULUMI_BACKEND_URL=%s pulumi cancel --yes --cwd %s --stack %s", e.Stack, strings.Join(e.Locks, "; "), shellQuote(e.Backend), shellQuote(e.WorkDir), e.Stack)
}

// InterruptedError: the operation's context was cancelled (Ctrl-C). The CLI
// was asked to stop gracefully; running the operation again converges.
type InterruptedError struct {
	Op, Stack string
	Err       error
}

func (e *InterruptedError) Error() string {
	return fmt.Sprintf("%s of stack %s interrupted; run it again to converge", e.Op, e.Stack)
}

func (e *InterruptedError) Unwrap() error { return e.Err }

// OperationError: the engine ran the operation and it failed. Diagnostics
// are the error messages the engine reported (also shown on Progress); Err
// is the Automation API error, with the CLI's full output.
type OperationError struct {
	Op, Stack   string
	Diagnostics []string
	Err         error
}

func (e *OperationError) Error() string {
	if len(e.Diagnostics) == 0 {
		return fmt.Sprintf("%s of stack %s failed: %s", e.Op, e.Stack, cliMessage(e.Err))
	}
	return fmt.Sprintf("%s of stack %s failed:\n  %s", e.Op, e.Stack, strings.Join(e.Diagnostics, "\n  "))
}

func (e *OperationError) Unwrap() error { return e.Err }

// cliMessage is the telling part of an error from a CLI run: its first
// "error: " line (the Automation API's errors carry the whole output).
func cliMessage(err error) string {
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "stderr: ")
		if m, ok := strings.CutPrefix(line, "error: "); ok {
			return m
		}
	}
	return firstLine(err.Error())
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
