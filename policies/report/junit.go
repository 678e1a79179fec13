package report

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/plinth-dev/plinth/policies"
)

// JUnit XML, as CI dashboards (GitLab, Jenkins, Azure DevOps, GitHub test
// reporters) read it.
type (
	// JUnitSuites is the <testsuites> root.
	JUnitSuites struct {
		XMLName  xml.Name     `xml:"testsuites"`
		Name     string       `xml:"name,attr"`
		Tests    int          `xml:"tests,attr"`
		Failures int          `xml:"failures,attr"`
		Errors   int          `xml:"errors,attr"`
		Skipped  int          `xml:"skipped,attr"`
		Suites   []JUnitSuite `xml:"testsuite"`
	}
	// JUnitSuite is one pack.
	JUnitSuite struct {
		Name       string          `xml:"name,attr"`
		Tests      int             `xml:"tests,attr"`
		Failures   int             `xml:"failures,attr"`
		Errors     int             `xml:"errors,attr"`
		Skipped    int             `xml:"skipped,attr"`
		Properties []JUnitProperty `xml:"properties>property,omitempty"`
		Cases      []JUnitCase     `xml:"testcase"`
	}
	// JUnitProperty is a name and a value.
	JUnitProperty struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}
	// JUnitCase is one policy.
	JUnitCase struct {
		Classname string        `xml:"classname,attr"`
		Name      string        `xml:"name,attr"`
		Failure   *JUnitFailure `xml:"failure,omitempty"`
		Skipped   *JUnitSkipped `xml:"skipped,omitempty"`
		SystemOut *JUnitOutput  `xml:"system-out,omitempty"`
	}
	// JUnitFailure lists a policy's mandatory violations.
	JUnitFailure struct {
		Message string `xml:"message,attr"`
		Type    string `xml:"type,attr"`
		Text    string `xml:",cdata"`
	}
	// JUnitOutput lists a policy's advisory violations.
	JUnitOutput struct {
		Text string `xml:",cdata"`
	}
	// JUnitSkipped marks a disabled policy.
	JUnitSkipped struct {
		Message string `xml:"message,attr,omitempty"`
	}
)

// JUnit writes one <testsuite name="plinth.PACK"> per pack and one
// <testcase classname="plinth.PACK" name="POLICY-ID"> per evaluated policy.
// A policy with mandatory violations fails (<failure type="mandatory">
// lists them); advisory violations are <system-out> lines and do not fail;
// a disabled policy is <skipped/>.
func JUnit(w io.Writer, rep *policies.Report, all []*policies.Policy, opts Options) error {
	root := JUnitSuites{Name: toolName}
	props := suiteProperties(rep, opts)
	suites := map[string]*JUnitSuite{}
	var order []string
	for _, e := range entries(rep, all) {
		s, ok := suites[e.pack]
		if !ok {
			s = &JUnitSuite{Name: toolName + "." + e.pack, Properties: props}
			suites[e.pack] = s
			order = append(order, e.pack)
		}
		tc := JUnitCase{Classname: s.Name, Name: e.id}
		mandatory, advisory := e.mandatory(), e.advisory()
		switch {
		case e.enforcement == policies.Disabled && len(e.violations) == 0:
			tc.Skipped = &JUnitSkipped{Message: "disabled"}
			s.Skipped++
		case len(mandatory) > 0:
			tc.Failure = &JUnitFailure{
				Message: fmt.Sprintf("%d mandatory %s of %s", len(mandatory), plural(len(mandatory), "violation"), e.id),
				Type:    string(policies.Mandatory),
				Text:    violationLines(mandatory, opts),
			}
			s.Failures++
		}
		if len(advisory) > 0 {
			tc.SystemOut = &JUnitOutput{Text: violationLines(advisory, opts)}
		}
		s.Tests++
		s.Cases = append(s.Cases, tc)
	}
	for _, pack := range order {
		s := suites[pack]
		root.Suites = append(root.Suites, *s)
		root.Tests += s.Tests
		root.Failures += s.Failures
		root.Skipped += s.Skipped
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(root); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func suiteProperties(rep *policies.Report, opts Options) []JUnitProperty {
	var props []JUnitProperty
	add := func(name, value string) {
		if value != "" {
			props = append(props, JUnitProperty{Name: name, Value: value})
		}
	}
	add("environment", rep.Environment.Name)
	add("environmentClass", rep.Environment.Class)
	add("blueprint", artifactURI(opts.Blueprint))
	add("version", opts.ToolVersion)
	return props
}

// violationLines writes one line per violation (and one for its remediation).
func violationLines(vs []policies.Violation, opts Options) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "%s: ", v.Enforcement)
		if v.URN != "" {
			fmt.Fprintf(&b, "%s %s: ", shortType(v.Type), v.Name)
		}
		b.WriteString(v.Message)
		if v.BlueprintPath != "" {
			fmt.Fprintf(&b, " (%s", v.BlueprintPath)
			if line, _ := opts.locate(v.BlueprintPath); line > 0 {
				fmt.Fprintf(&b, ", %s:%d", cmp.Or(artifactURI(opts.Blueprint), "blueprint"), line)
			}
			b.WriteString(")")
		}
		b.WriteString("\n")
		if v.Remediation != "" {
			fmt.Fprintf(&b, "  remediation: %s\n", v.Remediation)
		}
	}
	return b.String()
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
