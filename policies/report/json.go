package report

import (
	"encoding/json"
	"io"

	"github.com/plinth-dev/plinth/policies"
)

// JSONReport is the document JSON writes.
type JSONReport struct {
	// Tool is "plinth"; Version is its version, when known.
	Tool    string `json:"tool"`
	Version string `json:"version,omitempty"`
	// Blueprint is the blueprint file checked, when known.
	Blueprint string `json:"blueprint,omitempty"`
	// Environment is what was checked.
	Environment policies.Environment `json:"environment"`
	// Passed is true when there is no mandatory violation.
	Passed bool `json:"passed"`
	// Summary holds the totals.
	Summary JSONSummary `json:"summary"`
	// Results has one entry per policy evaluated, disabled ones included.
	Results []policies.Result `json:"results"`
	// Violations are every finding, mandatory first.
	Violations []JSONViolation `json:"violations"`
}

// JSONSummary holds a report's totals.
type JSONSummary struct {
	// Mandatory and Advisory count violations.
	Mandatory int `json:"mandatory"`
	Advisory  int `json:"advisory"`
	// Checked counts the policies evaluated, Disabled those that were not.
	Checked  int `json:"checked"`
	Disabled int `json:"disabled"`
}

// JSONViolation is a violation with its position in the blueprint file.
type JSONViolation struct {
	policies.Violation
	// Line and Column locate BlueprintPath in the blueprint file (1-based),
	// when Options.Locate knows it.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
}

// JSON writes the report as one indented JSON document (JSONReport).
func JSON(w io.Writer, rep *policies.Report, opts Options) error {
	c := countsOf(rep, entries(rep, nil))
	doc := JSONReport{
		Tool:        toolName,
		Version:     opts.ToolVersion,
		Blueprint:   artifactURI(opts.Blueprint),
		Environment: rep.Environment,
		Passed:      c.Mandatory == 0,
		Summary:     JSONSummary(c),
		Results:     rep.Results,
		Violations:  make([]JSONViolation, 0, len(rep.Violations)),
	}
	if doc.Results == nil {
		doc.Results = []policies.Result{}
	}
	for _, v := range rep.Violations {
		jv := JSONViolation{Violation: v}
		jv.Line, jv.Column = opts.locate(v.BlueprintPath)
		doc.Violations = append(doc.Violations, jv)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}
