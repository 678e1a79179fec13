package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"regexp"
	"strings"

	"github.com/plinth-dev/plinth/policies"
)

// SARIF constants.
const (
	toolName       = "plinth"
	informationURI = "https://github.com/plinth-dev/plinth"
	sarifSchema    = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifVersion   = "2.1.0"
	// FingerprintKey names the partial fingerprint SARIF results carry: a
	// hash of policy, resource URN and message, stable across runs, so code
	// scanning tracks one alert per finding as the blueprint file changes.
	FingerprintKey = "plinthPolicy/v1"
)

// securitySeverity is GitHub's security-severity score of a security-pack
// policy's severity (critical ≥ 9.0, high 7.0–8.9, medium 4.0–6.9, low < 4).
var securitySeverity = map[policies.Severity]string{
	policies.Critical: "9.0",
	policies.High:     "7.0",
	policies.Medium:   "5.0",
	policies.Low:      "3.0",
}

// The subset of SARIF 2.1.0 that Plinth writes.
type (
	sarifLog struct {
		Schema  string     `json:"$schema"`
		Version string     `json:"version"`
		Runs    []sarifRun `json:"runs"`
	}
	sarifRun struct {
		Tool              sarifTool        `json:"tool"`
		AutomationDetails *sarifAutomation `json:"automationDetails,omitempty"`
		Results           []sarifResult    `json:"results"`
		ColumnKind        string           `json:"columnKind,omitempty"`
		Properties        map[string]any   `json:"properties,omitempty"`
	}
	sarifAutomation struct {
		ID string `json:"id"`
	}
	sarifTool struct {
		Driver sarifDriver `json:"driver"`
	}
	sarifDriver struct {
		Name            string      `json:"name"`
		InformationURI  string      `json:"informationUri"`
		SemanticVersion string      `json:"semanticVersion,omitempty"`
		Version         string      `json:"version,omitempty"`
		Rules           []sarifRule `json:"rules"`
	}
	sarifRule struct {
		ID                   string         `json:"id"`
		Name                 string         `json:"name"`
		ShortDescription     sarifText      `json:"shortDescription"`
		FullDescription      sarifText      `json:"fullDescription"`
		Help                 *sarifText     `json:"help,omitempty"`
		DefaultConfiguration sarifConfig    `json:"defaultConfiguration"`
		Properties           map[string]any `json:"properties"`
	}
	sarifText struct {
		Text string `json:"text"`
	}
	sarifConfig struct {
		Level string `json:"level"`
	}
	sarifResult struct {
		RuleID              string            `json:"ruleId"`
		RuleIndex           int               `json:"ruleIndex"`
		Level               string            `json:"level"`
		Message             sarifText         `json:"message"`
		Locations           []sarifLocation   `json:"locations"`
		PartialFingerprints map[string]string `json:"partialFingerprints"`
		Properties          map[string]any    `json:"properties,omitempty"`
	}
	sarifLocation struct {
		PhysicalLocation sarifPhysical     `json:"physicalLocation"`
		LogicalLocations []sarifLogicalLoc `json:"logicalLocations,omitempty"`
	}
	sarifPhysical struct {
		ArtifactLocation sarifArtifact `json:"artifactLocation"`
		Region           sarifRegion   `json:"region"`
	}
	sarifArtifact struct {
		URI string `json:"uri"`
	}
	sarifRegion struct {
		StartLine   int `json:"startLine"`
		StartColumn int `json:"startColumn,omitempty"`
	}
	sarifLogicalLoc struct {
		Name               string `json:"name,omitempty"`
		FullyQualifiedName string `json:"fullyQualifiedName"`
		Kind               string `json:"kind"`
	}
)

// level is the SARIF level of an enforcement.
func level(e policies.Enforcement) string {
	switch e {
	case policies.Mandatory:
		return "error"
	case policies.Advisory:
		return "warning"
	}
	return "none"
}

// Fingerprint is the stable identity of a violation: a hash of its policy,
// resource URN and message.
func Fingerprint(v policies.Violation) string {
	h := sha256.New()
	for _, s := range []string{v.Policy, v.URN, v.Message} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// semverRE matches a semantic version (2.0.0).
var semverRE = regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// SARIF writes a SARIF 2.1.0 log that GitHub code scanning accepts: one run
// whose driver lists every evaluated policy as a rule, and one result per
// violation located in the blueprint file (line 1 when the field's line is
// not known) and at the resource's URN.
func SARIF(w io.Writer, rep *policies.Report, all []*policies.Policy, opts Options) error {
	es := entries(rep, all)
	index := map[string]int{}
	rules := make([]sarifRule, 0, len(es))
	for i, e := range es {
		index[e.id] = i
		rules = append(rules, sarifRuleOf(e))
	}

	uri := artifactURI(opts.Blueprint)
	results := make([]sarifResult, 0, len(rep.Violations))
	for _, v := range rep.Violations {
		text := v.Message
		if v.Remediation != "" {
			text = strings.TrimRight(text, ". ") + ". Remediation: " + v.Remediation
		}
		region := sarifRegion{StartLine: 1}
		if line, col := opts.locate(v.BlueprintPath); line > 0 {
			region = sarifRegion{StartLine: line, StartColumn: col}
		}
		loc := sarifLocation{PhysicalLocation: sarifPhysical{
			ArtifactLocation: sarifArtifact{URI: uri},
			Region:           region,
		}}
		if v.URN != "" {
			loc.LogicalLocations = []sarifLogicalLoc{{Name: v.Name, FullyQualifiedName: v.URN, Kind: "resource"}}
		}
		r := sarifResult{
			RuleID:              v.Policy,
			RuleIndex:           index[v.Policy],
			Level:               level(v.Enforcement),
			Message:             sarifText{Text: text},
			Locations:           []sarifLocation{loc},
			PartialFingerprints: map[string]string{FingerprintKey: Fingerprint(v)},
		}
		props := map[string]any{}
		if v.Type != "" {
			props["resourceType"] = v.Type
		}
		if v.BlueprintPath != "" {
			props["blueprintPath"] = v.BlueprintPath
		}
		if len(props) > 0 {
			r.Properties = props
		}
		results = append(results, r)
	}

	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{
			Name:           toolName,
			InformationURI: informationURI,
			Rules:          rules,
		}},
		Results:    results,
		ColumnKind: "unicodeCodePoints",
	}
	// semanticVersion must be semantic versioning; anything else (a
	// commit, "dev") goes in the free-form version.
	if v := strings.TrimPrefix(opts.ToolVersion, "v"); semverRE.MatchString(v) {
		run.Tool.Driver.SemanticVersion = v
	} else {
		run.Tool.Driver.Version = opts.ToolVersion
	}
	if env := rep.Environment; env.Name != "" {
		// The category: one analysis per environment, so checking several
		// blueprints of one repository does not close each other's alerts.
		run.AutomationDetails = &sarifAutomation{ID: "plinth/" + env.Name + "/"}
		props := map[string]any{"environment": env.Name}
		if env.Class != "" {
			props["environmentClass"] = env.Class
		}
		run.Properties = props
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}})
}

func sarifRuleOf(e *entry) sarifRule {
	desc := e.description()
	r := sarifRule{
		ID:                   e.id,
		Name:                 e.name,
		ShortDescription:     sarifText{Text: firstSentence(desc)},
		FullDescription:      sarifText{Text: desc},
		DefaultConfiguration: sarifConfig{Level: level(e.enforcement)},
		Properties:           map[string]any{"tags": []string{e.pack}},
	}
	if rem := e.remediation(); rem != "" {
		r.Help = &sarifText{Text: rem}
	}
	if e.severity != "" {
		r.Properties["severity"] = string(e.severity)
	}
	if e.pack == policies.PackSecurity {
		if s, ok := securitySeverity[e.severity]; ok {
			r.Properties["security-severity"] = s
		}
	}
	return r
}

// firstSentence returns text up to the end of its first sentence.
func firstSentence(text string) string {
	for i := 0; i+1 < len(text); i++ {
		if text[i] == '.' && text[i+1] == ' ' {
			return text[:i+1]
		}
	}
	return text
}
