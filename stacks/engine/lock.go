package engine

import (
	"fmt"
	"regexp"
	"strings"
)

// Every self-managed backend (file://, s3://, gs://, azblob://) locks a
// stack while an update, refresh, destroy or import runs: the CLI writes
// .pulumi/locks/<org>/<project>/<stack>/<id>.json into the backend first,
// and refuses to start when another lock is there. (pulumi v3.26 and later
// always lock; older CLIs only with PULUMI_SELF_MANAGED_STATE_LOCKING=1,
// which workspaceEnv sets.) Plinth turns the CLI's refusal into a
// LockedError that says which stack, who holds the lock and how to clear a
// lock whose holder is known to be gone.

// EnvStateLocking turns locking on for pulumi CLIs older than v3.26 (newer
// ones always lock and ignore it).
const EnvStateLocking = "PULUMI_SELF_MANAGED_STATE_LOCKING"

// lockedMessage starts the CLI's refusal of a locked stack.
const lockedMessage = "the stack is currently locked by"

// lockHolder matches a lock line of the refusal:
// "  s3://bucket/.pulumi/locks/.../<id>.json: created by user@host (pid 123) at 2026-11-26T02:00:00Z".
var lockHolder = regexp.MustCompile(`: created by (.*)@([^@\s]+) \(pid (\d+)\) at (\S+)`)

// lockedError returns a *LockedError when err is the backend refusing the
// stack because another operation holds its lock, and nil otherwise.
func (s *session) lockedError(err error) *LockedError {
	if err == nil || !strings.Contains(err.Error(), lockedMessage) {
		return nil
	}
	le := &LockedError{Stack: s.opts.Stack, WorkDir: s.workDir, Backend: s.opts.Backend}
	le.Locks = lockHolders(err.Error())
	if len(le.Locks) == 0 {
		le.Locks = []string{"holder not reported"}
	}
	return le
}

// lockHolders reads the holders of the locks named in a refusal, as
// LockedError shows them: "pid 123 of user on host at 2026-11-26T02:00:00Z".
func lockHolders(msg string) []string {
	var out []string
	for _, line := range strings.Split(msg, "\n") {
		if m := lockHolder.FindStringSubmatch(line); m != nil {
			out = append(out, fmt.Sprintf("pid %s of %s on %s at %s", m[3], m[1], m[2], m[4]))
		}
	}
	return out
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// letters, digits and -_./:=@%+, (a backend URL's query has '&' and '?'),
// so that the commands errors print can be pasted as they are.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
