package report

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"strings"

	"github.com/plinth-dev/plinth/policies"
)

// Text writes a summary for people: the violations, mandatory first, each
// with its policy, resource, blueprint field, message and remediation, then
// a last line with the totals:
//
//	N mandatory, M advisory violations; K policies checked, D disabled
func Text(w io.Writer, rep *policies.Report, all []*policies.Policy, opts Options) error {
	bw := bufio.NewWriter(w)
	es := entries(rep, all)
	c := countsOf(rep, es)

	env := rep.Environment
	var about []string
	if env.Class != "" {
		about = append(about, "class "+env.Class)
	}
	if where := strings.TrimSpace(env.Provider + " " + env.Region); where != "" {
		about = append(about, where)
	}
	if env.Stack != "" {
		about = append(about, "stack "+env.Stack)
	}
	fmt.Fprintf(bw, "Policy check of %s", cmp.Or(env.Name, "the environment"))
	if len(about) > 0 {
		fmt.Fprintf(bw, " (%s)", strings.Join(about, ", "))
	}
	if opts.Blueprint != "" {
		fmt.Fprintf(bw, " from %s", artifactURI(opts.Blueprint))
	}
	fmt.Fprintln(bw)

	mandatory, advisory := split(rep.Violations)
	section := func(title, mark string, vs []policies.Violation) {
		if len(vs) == 0 {
			return
		}
		fmt.Fprintf(bw, "\n%s (%d):\n", title, len(vs))
		for _, v := range vs {
			fmt.Fprintf(bw, "  %s %s [%s]\n", mark, v.Policy, v.Severity)
			if v.URN != "" {
				fmt.Fprintf(bw, "      resource:    %s %s\n", shortType(v.Type), v.Name)
				fmt.Fprintf(bw, "      urn:         %s\n", v.URN)
			} else {
				fmt.Fprintf(bw, "      resource:    (the stack as a whole)\n")
			}
			if v.BlueprintPath != "" {
				fmt.Fprintf(bw, "      blueprint:   %s", v.BlueprintPath)
				if line, col := opts.locate(v.BlueprintPath); line > 0 {
					fmt.Fprintf(bw, " at %s:%d", cmp.Or(artifactURI(opts.Blueprint), "blueprint"), line)
					if col > 0 {
						fmt.Fprintf(bw, ":%d", col)
					}
				}
				fmt.Fprintln(bw)
			}
			fmt.Fprintf(bw, "      problem:     %s\n", v.Message)
			if v.Remediation != "" {
				fmt.Fprintf(bw, "      remediation: %s\n", v.Remediation)
			}
		}
	}
	section("Mandatory violations", "x", mandatory)
	section("Advisory violations", "!", advisory)
	if len(rep.Violations) == 0 {
		fmt.Fprintln(bw, "\nNo violations.")
	}

	fmt.Fprintf(bw, "\n%d mandatory, %d advisory violations; %d policies checked, %d disabled\n",
		c.Mandatory, c.Advisory, c.Checked, c.Disabled)
	return bw.Flush()
}

// split returns the mandatory and the other violations, in report order.
func split(vs []policies.Violation) (mandatory, advisory []policies.Violation) {
	for _, v := range vs {
		if v.Enforcement == policies.Mandatory {
			mandatory = append(mandatory, v)
		} else {
			advisory = append(advisory, v)
		}
	}
	return mandatory, advisory
}
