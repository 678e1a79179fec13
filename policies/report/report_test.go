package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	sjs "github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/plinth-dev/plinth/policies"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const urnPrefix = "urn:pulumi:prod::plinth::"

// fixturePolicies are a small fixed set of policies, one or more per pack,
// independent of Plinth's real packs so the golden files do not move when
// those change.
func fixturePolicies() []*policies.Policy {
	each := func(typ string, check func(r *policies.Resource) string) func(*policies.Input, policies.Settings) []policies.Finding {
		return func(in *policies.Input, _ policies.Settings) []policies.Finding {
			var out []policies.Finding
			for _, r := range in.Resources {
				if r.Type == typ || typ == "" {
					if msg := check(r); msg != "" {
						out = append(out, policies.Finding{Resource: r, Message: msg})
					}
				}
			}
			return out
		}
	}
	return []*policies.Policy{
		{
			Pack: policies.PackSecurity, Name: "imdsv2-required", Severity: policies.High,
			Description: "EC2 launch templates require IMDSv2. Pods cannot steal node credentials.",
			Remediation: "Set metadataOptions.httpTokens to \"required\".",
			Defaults:    policies.Everywhere(policies.Mandatory),
			Check: each("aws:ec2/launchTemplate:LaunchTemplate", func(r *policies.Resource) string {
				if got := r.String("metadataOptions.httpTokens"); got != "required" {
					return "launch template " + r.Name + ": metadataOptions.httpTokens is " + got + ", not required"
				}
				return ""
			}),
		},
		{
			Pack: policies.PackSecurity, Name: "s3-no-public-acl", Severity: policies.Critical,
			Description: "No S3 bucket has a public canned ACL.",
			Remediation: "Remove the ACL; share data through IAM or presigned URLs.",
			Defaults:    policies.Everywhere(policies.Mandatory),
			Check: each("aws:s3/bucketV2:BucketV2", func(r *policies.Resource) string {
				if acl := r.String("acl"); strings.HasPrefix(acl, "public") {
					return "BucketV2 " + r.Name + " has the public ACL \"" + acl + "\""
				}
				return ""
			}),
		},
		{
			Pack: policies.PackCost, Name: "max-gpus", Severity: policies.Medium,
			Description: "GPU node pools stay under a GPU budget.",
			Remediation: "Lower maxSize of the pool, or raise cost.max-gpus.maxGPUs.",
			Defaults:    policies.Defaults{policies.ClassDev: policies.Mandatory, policies.ClassProd: policies.Advisory},
			Check: each("aws:eks/nodeGroup:NodeGroup", func(r *policies.Resource) string {
				if n, _ := r.Number("scalingConfig.maxSize"); n > 8 {
					return "node group " + r.Name + " can grow to " + strconv.Itoa(int(n)) + " GPU nodes, over the budget of 8"
				}
				return ""
			}),
		},
		{
			Pack: policies.PackTagging, Name: "required-tags", Severity: policies.Medium,
			Description: "Taggable resources carry the owner and cost-center tags.",
			Remediation: "Set spec.tags.owner and spec.tags.cost-center in the blueprint.",
			Defaults:    policies.Everywhere(policies.Mandatory),
			Check: each("", func(r *policies.Resource) string {
				if tags := r.Tags(); tags != nil && tags["owner"] == nil {
					return r.Name + " has no owner tag"
				}
				return ""
			}),
		},
		{
			Pack: policies.PackReliability, Name: "rds-multi-az", Severity: policies.High,
			Description: "Production databases run in several availability zones.",
			Remediation: "Set spec.tracking.database.multiAz: true.",
			Defaults:    policies.Everywhere(policies.Mandatory),
			Check: each("aws:rds/instance:Instance", func(r *policies.Resource) string {
				if ok, _ := r.Bool("multiAz"); !ok {
					return "database " + r.Name + " is single-AZ"
				}
				return ""
			}),
		},
		{
			Pack: policies.PackReliability, Name: "versioned-buckets", Severity: policies.Low,
			Description: "Tracking and model buckets are versioned.",
			Remediation: "Keep versioning on.",
			Defaults:    policies.Everywhere(policies.Mandatory),
			Check:       func(*policies.Input, policies.Settings) []policies.Finding { return nil },
		},
	}
}

func fixtureInput() *policies.Input {
	return &policies.Input{
		Environment: policies.Environment{Name: "ml-prod", Class: policies.ClassProd, Provider: "aws", Region: "us-west-2", Stack: "prod"},
		Resources: []*policies.Resource{
			{
				URN: urnPrefix + "plinth:compute:GpuNodePool$aws:ec2/launchTemplate:LaunchTemplate::ml-prod-train-lt", Type: "aws:ec2/launchTemplate:LaunchTemplate", Name: "ml-prod-train-lt",
				Inputs:        map[string]any{"metadataOptions": map[string]any{"httpTokens": "optional"}},
				BlueprintPath: "spec.gpuNodePools[0]",
			},
			{
				URN: urnPrefix + "plinth:compute:GpuNodePool$aws:eks/nodeGroup:NodeGroup::ml-prod-train", Type: "aws:eks/nodeGroup:NodeGroup", Name: "ml-prod-train",
				Inputs:        map[string]any{"scalingConfig": map[string]any{"maxSize": 16.0}, "tags": map[string]any{"owner": "ml-platform"}},
				BlueprintPath: "spec.gpuNodePools[0]",
			},
			{
				URN: urnPrefix + "plinth:storage:Storage$aws:s3/bucketV2:BucketV2::ml-prod-data", Type: "aws:s3/bucketV2:BucketV2", Name: "ml-prod-data",
				Inputs:        map[string]any{"acl": "public-read", "tags": map[string]any{"cost-center": "4711"}},
				BlueprintPath: "spec.storage.buckets[1]",
			},
			{
				URN: urnPrefix + "plinth:tracking:TrackingStore$aws:rds/instance:Instance::ml-prod-db", Type: "aws:rds/instance:Instance", Name: "ml-prod-db",
				Inputs:        map[string]any{"multiAz": false, "tags": map[string]any{"owner": "ml-platform"}},
				BlueprintPath: "spec.tracking",
			},
		},
	}
}

// fixtureReport evaluates the fixture policies (rds-multi-az disabled by
// configuration) and merges one custom-rule violation.
func fixtureReport(t *testing.T) (*policies.Report, []*policies.Policy) {
	t.Helper()
	all := fixturePolicies()
	cfg := &policies.Config{Policies: map[string]policies.PolicyConfig{"reliability.rds-multi-az": {Enforcement: policies.Disabled}}}
	rep, err := policies.Evaluate(all, fixtureInput(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep.Merge([]policies.Violation{{
		Policy: "custom.bucket-purpose", Pack: "custom", Severity: policies.Medium, Enforcement: policies.Mandatory,
		Message:     "bucket ml-prod-data has no plinth:purpose tag",
		Remediation: "Tag every bucket with its purpose.",
		URN:         urnPrefix + "plinth:storage:Storage$aws:s3/bucketV2:BucketV2::ml-prod-data", Type: "aws:s3/bucketV2:BucketV2", Name: "ml-prod-data",
		BlueprintPath: "spec.storage.buckets[1]",
	}})
	return rep, all
}

func fixtureOptions() Options {
	pos := map[string][2]int{"spec.gpuNodePools[0]": {14, 5}, "spec.storage.buckets[1]": {31, 7}}
	return Options{
		Blueprint:   "blueprints/production.yaml",
		ToolVersion: "0.4.1",
		Locate: func(path string) (int, int) {
			p := pos[path]
			return p[0], p[1]
		},
	}
}

// render writes the fixture report in one format.
func render(t *testing.T, format string, rep *policies.Report, all []*policies.Policy, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch format {
	case "txt":
		err = Text(&buf, rep, all, opts)
	case "json":
		err = JSON(&buf, rep, opts)
	case "sarif":
		err = SARIF(&buf, rep, all, opts)
	case "junit.xml":
		err = JUnit(&buf, rep, all, opts)
	default:
		t.Fatalf("unknown format %s", format)
	}
	if err != nil {
		t.Fatalf("%s: %v", format, err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	rep, all := fixtureReport(t)
	for _, format := range []string{"txt", "json", "sarif", "junit.xml"} {
		t.Run(format, func(t *testing.T) {
			got := render(t, format, rep, all, fixtureOptions())
			golden := filepath.Join("testdata", "report."+format)
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (run go test ./policies/report -update to accept):\n%s", format, golden, got)
			}
		})
	}
}

func TestTextSummaryLine(t *testing.T) {
	rep, all := fixtureReport(t)
	out := strings.TrimSpace(string(render(t, "txt", rep, all, fixtureOptions())))
	lines := strings.Split(out, "\n")
	// 3 mandatory fixture violations (imdsv2, s3 acl, required-tags) + 1
	// custom; 1 advisory (max-gpus in prod); 6 policies + 1 custom rule, one
	// of them disabled.
	if want := "4 mandatory, 1 advisory violations; 6 policies checked, 1 disabled"; lines[len(lines)-1] != want {
		t.Errorf("last line = %q, want %q", lines[len(lines)-1], want)
	}
	mand := strings.Index(out, "Mandatory violations (4)")
	adv := strings.Index(out, "Advisory violations (1)")
	if mand < 0 || adv < 0 || adv < mand {
		t.Errorf("want mandatory violations before advisory ones:\n%s", out)
	}
	for _, want := range []string{
		"security.s3-no-public-acl [critical]",
		"resource:    BucketV2 ml-prod-data",
		"blueprint:   spec.storage.buckets[1] at blueprints/production.yaml:31:7",
		"remediation: Remove the ACL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}

	var buf bytes.Buffer
	clean := &policies.Report{Environment: policies.Environment{Name: "dev"}, Results: []policies.Result{{ID: "security.x", Enforcement: policies.Mandatory}}}
	if err := Text(&buf, clean, nil, Options{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "No violations.") || !strings.HasSuffix(buf.String(), "0 mandatory, 0 advisory violations; 1 policies checked, 0 disabled\n") {
		t.Errorf("clean report:\n%s", buf.String())
	}
}

func TestJSON(t *testing.T) {
	rep, _ := fixtureReport(t)
	var doc JSONReport
	if err := json.Unmarshal(render(t, "json", rep, nil, fixtureOptions()), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Passed || doc.Summary != (JSONSummary{Mandatory: 4, Advisory: 1, Checked: 6, Disabled: 1}) {
		t.Errorf("passed %v, summary %+v", doc.Passed, doc.Summary)
	}
	if len(doc.Violations) != 5 || len(doc.Results) != 6 {
		t.Fatalf("%d violations, %d results", len(doc.Violations), len(doc.Results))
	}
	for _, v := range doc.Violations {
		if v.BlueprintPath == "spec.storage.buckets[1]" && (v.Line != 31 || v.Column != 7) {
			t.Errorf("%s at %d:%d, want 31:7", v.Policy, v.Line, v.Column)
		}
		if v.BlueprintPath == "spec.tracking" && v.Line != 0 {
			t.Errorf("%s located at unknown path: line %d", v.Policy, v.Line)
		}
	}
}

// sarifSchema compiles the SARIF 2.1.0 JSON schema of the OASIS committee
// specification (testdata/sarif-schema-2.1.0.json), with format assertions.
func sarifSchemaValidator(t *testing.T) *sjs.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := sjs.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := sjs.NewCompiler()
	c.AssertFormat()
	const url = "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json"
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func TestSARIFSchema(t *testing.T) {
	sch := sarifSchemaValidator(t)
	rep, all := fixtureReport(t)
	clean := &policies.Report{Environment: policies.Environment{Name: "dev", Class: "dev"}, Violations: []policies.Violation{}}
	cases := map[string][]byte{
		"fixture":            render(t, "sarif", rep, all, fixtureOptions()),
		"no Locate":          render(t, "sarif", rep, all, Options{Blueprint: `blueprints\prod.yaml`}),
		"no violations":      render(t, "sarif", clean, all, Options{Blueprint: "./dev.yaml"}),
		"nothing known":      render(t, "sarif", &policies.Report{}, nil, Options{}),
		"version with v":     render(t, "sarif", rep, all, Options{Blueprint: "b.yaml", ToolVersion: "v1.2.3"}),
		"real policies only": render(t, "sarif", clean, policies.All(), Options{Blueprint: "b.yaml"}),
	}
	for name, out := range cases {
		inst, err := sjs.UnmarshalJSON(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s: SARIF output is not valid SARIF 2.1.0: %v\n%s", name, err, out)
		}
	}

	// The validator does reject what is not SARIF.
	bad, _ := sjs.UnmarshalJSON(strings.NewReader(`{"version":"2.1.0","runs":[{"tool":{"driver":{}},"results":[{"level":"fatal","message":{"text":"x"}}]}]}`))
	if err := sch.Validate(bad); err == nil {
		t.Error("schema accepted a log without driver name and with an unknown level")
	}
}

// sarifDoc is what the tests read back of a SARIF log.
type sarifDoc struct {
	Schema  string `json:"$schema"`
	Version string `json:"version"`
	Runs    []struct {
		AutomationDetails struct{ ID string } `json:"automationDetails"`
		Tool              struct {
			Driver struct {
				Name, InformationURI, SemanticVersion string
				Rules                                 []struct {
					ID, Name             string
					ShortDescription     struct{ Text string }
					FullDescription      struct{ Text string }
					Help                 struct{ Text string }
					DefaultConfiguration struct{ Level string }
					Properties           map[string]any
				}
			}
		}
		Results []struct {
			RuleID    string
			RuleIndex int
			Level     string
			Message   struct{ Text string }
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct{ URI string }
					Region           struct{ StartLine, StartColumn int }
				}
				LogicalLocations []struct{ FullyQualifiedName, Kind string }
			}
			PartialFingerprints map[string]string
		}
	}
}

func readSARIF(t *testing.T, out []byte) sarifDoc {
	t.Helper()
	var doc sarifDoc
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(doc.Runs))
	}
	return doc
}

// TestSARIFForGitHub checks what GitHub code scanning needs beyond the
// schema: rules for every evaluated policy with their levels and
// security-severity, results pointing at their rule, a relative artifact
// and a line for every result, and fingerprints.
func TestSARIFForGitHub(t *testing.T) {
	rep, all := fixtureReport(t)
	doc := readSARIF(t, render(t, "sarif", rep, all, fixtureOptions()))
	if doc.Schema != "https://json.schemastore.org/sarif-2.1.0.json" || doc.Version != "2.1.0" {
		t.Errorf("$schema %q, version %q", doc.Schema, doc.Version)
	}
	run := doc.Runs[0]
	drv := run.Tool.Driver
	if drv.Name != "plinth" || drv.SemanticVersion != "0.4.1" || !strings.HasPrefix(drv.InformationURI, "https://") {
		t.Errorf("driver %+v", drv)
	}
	if run.AutomationDetails.ID != "plinth/ml-prod/" {
		t.Errorf("automationDetails.id = %q", run.AutomationDetails.ID)
	}
	wantLevels := map[string]string{
		"security.imdsv2-required":      "error",
		"security.s3-no-public-acl":     "error",
		"cost.max-gpus":                 "warning",
		"tagging.required-tags":         "error",
		"reliability.rds-multi-az":      "none",
		"reliability.versioned-buckets": "error",
		"custom.bucket-purpose":         "error",
	}
	if len(drv.Rules) != len(wantLevels) {
		t.Errorf("%d rules, want %d", len(drv.Rules), len(wantLevels))
	}
	for _, r := range drv.Rules {
		if want, ok := wantLevels[r.ID]; !ok || r.DefaultConfiguration.Level != want {
			t.Errorf("rule %s: level %q, want %q", r.ID, r.DefaultConfiguration.Level, want)
		}
		if r.ShortDescription.Text == "" || r.FullDescription.Text == "" || r.Help.Text == "" || r.Name == "" {
			t.Errorf("rule %s lacks a name, description or help: %+v", r.ID, r)
		}
		tags, _ := r.Properties["tags"].([]any)
		pack, _, _ := strings.Cut(r.ID, ".")
		if len(tags) != 1 || tags[0] != pack {
			t.Errorf("rule %s: tags %v, want [%s]", r.ID, tags, pack)
		}
		sev, hasSev := r.Properties["security-severity"].(string)
		if pack == policies.PackSecurity {
			if f, err := strconv.ParseFloat(sev, 64); err != nil || f < 0 || f > 10 {
				t.Errorf("rule %s: security-severity %q is not a score", r.ID, sev)
			}
		} else if hasSev {
			t.Errorf("rule %s outside the security pack has a security-severity", r.ID)
		}
	}
	for _, r := range drv.Rules {
		if r.ID == "security.imdsv2-required" && (r.ShortDescription.Text != "EC2 launch templates require IMDSv2." ||
			r.FullDescription.Text != "EC2 launch templates require IMDSv2. Pods cannot steal node credentials.") {
			t.Errorf("imdsv2 descriptions: short %q, full %q", r.ShortDescription.Text, r.FullDescription.Text)
		}
	}
	wantSev := map[string]string{"security.imdsv2-required": "7.0", "security.s3-no-public-acl": "9.0"}
	for _, r := range drv.Rules {
		if want, ok := wantSev[r.ID]; ok && r.Properties["security-severity"] != want {
			t.Errorf("rule %s: security-severity %v, want %s", r.ID, r.Properties["security-severity"], want)
		}
	}

	if len(run.Results) != len(rep.Violations) {
		t.Fatalf("%d results for %d violations", len(run.Results), len(rep.Violations))
	}
	seen := map[string]bool{}
	for i, res := range run.Results {
		v := rep.Violations[i]
		if res.RuleIndex < 0 || res.RuleIndex >= len(drv.Rules) || drv.Rules[res.RuleIndex].ID != res.RuleID || res.RuleID != v.Policy {
			t.Errorf("result %d: ruleId %s, ruleIndex %d does not point at its rule", i, res.RuleID, res.RuleIndex)
		}
		if want := map[policies.Enforcement]string{policies.Mandatory: "error", policies.Advisory: "warning"}[v.Enforcement]; res.Level != want {
			t.Errorf("result %d: level %s, want %s", i, res.Level, want)
		}
		if !strings.Contains(res.Message.Text, v.Message) || !strings.Contains(res.Message.Text, v.Remediation) {
			t.Errorf("result %d: message %q lacks message or remediation", i, res.Message.Text)
		}
		if len(res.Locations) != 1 {
			t.Fatalf("result %d: %d locations", i, len(res.Locations))
		}
		loc := res.Locations[0]
		if loc.PhysicalLocation.ArtifactLocation.URI != "blueprints/production.yaml" || loc.PhysicalLocation.Region.StartLine < 1 {
			t.Errorf("result %d: physical location %+v", i, loc.PhysicalLocation)
		}
		if len(loc.LogicalLocations) != 1 || loc.LogicalLocations[0].FullyQualifiedName != v.URN || loc.LogicalLocations[0].Kind != "resource" {
			t.Errorf("result %d: logical locations %+v", i, loc.LogicalLocations)
		}
		fp := res.PartialFingerprints[FingerprintKey]
		if fp == "" || seen[fp] {
			t.Errorf("result %d: fingerprint %q missing or not unique", i, fp)
		}
		seen[fp] = true
	}
	// Located and unlocated regions.
	for _, res := range run.Results {
		r := res.Locations[0].PhysicalLocation.Region
		if res.RuleID == "reliability.rds-multi-az" {
			t.Errorf("disabled policy reported: %s", res.Message.Text)
		}
		if strings.Contains(res.Message.Text, "ml-prod-data") && (r.StartLine != 31 || r.StartColumn != 7) {
			t.Errorf("%s: region %+v, want 31:7", res.RuleID, r)
		}
	}

	// Without Locate every result still has a line, and the artifact is a
	// relative URI with forward slashes.
	doc = readSARIF(t, render(t, "sarif", rep, all, Options{Blueprint: `.\blueprints\prod.yaml`}))
	for _, res := range doc.Runs[0].Results {
		pl := res.Locations[0].PhysicalLocation
		if pl.ArtifactLocation.URI != "blueprints/prod.yaml" || pl.Region.StartLine != 1 || pl.Region.StartColumn != 0 {
			t.Errorf("%s: %+v", res.RuleID, pl)
		}
	}
}

func TestFingerprintsStable(t *testing.T) {
	fps := func(opts Options) []string {
		rep, all := fixtureReport(t)
		var out []string
		for _, res := range readSARIF(t, render(t, "sarif", rep, all, opts)).Runs[0].Results {
			out = append(out, res.PartialFingerprints[FingerprintKey])
		}
		return out
	}
	first := fps(fixtureOptions())
	// Same findings, another run, another blueprint location and version:
	// the same fingerprints.
	again := fps(Options{Blueprint: "elsewhere/prod.yaml", ToolVersion: "9.9.9"})
	if strings.Join(first, ",") != strings.Join(again, ",") {
		t.Errorf("fingerprints moved between runs:\n%v\n%v", first, again)
	}
	v := policies.Violation{Policy: "security.imdsv2-required", URN: "urn:x", Message: "m"}
	// A fixed value: changing the hash would reopen every alert on GitHub.
	if got, want := Fingerprint(v), "c23d0df9b841093f9a5aed0ec6c6a177"; got != want {
		t.Errorf("Fingerprint = %s, want %s", got, want)
	}
	for _, w := range []policies.Violation{
		{Policy: "security.other", URN: v.URN, Message: v.Message},
		{Policy: v.Policy, URN: "urn:y", Message: v.Message},
		{Policy: v.Policy, URN: v.URN, Message: "n"},
		{Policy: v.Policy + "u", URN: "rn:x", Message: v.Message},
	} {
		if Fingerprint(w) == Fingerprint(v) {
			t.Errorf("%+v has the fingerprint of %+v", w, v)
		}
	}
	// Severity, enforcement and position are not part of the identity.
	w := v
	w.Enforcement, w.Severity, w.BlueprintPath = policies.Advisory, policies.Low, "spec.x"
	if Fingerprint(w) != Fingerprint(v) {
		t.Error("fingerprint depends on enforcement, severity or blueprint path")
	}
}

// junit* are read back with encoding/xml independently of the writer's types.
type junitDoc struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Cases    []struct {
			Classname string `xml:"classname,attr"`
			Name      string `xml:"name,attr"`
			Failure   *struct {
				Message string `xml:"message,attr"`
				Type    string `xml:"type,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped   *struct{} `xml:"skipped"`
			SystemOut string    `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestJUnitParseBack(t *testing.T) {
	rep, all := fixtureReport(t)
	var doc junitDoc
	if err := xml.Unmarshal(render(t, "junit.xml", rep, all, fixtureOptions()), &doc); err != nil {
		t.Fatal(err)
	}
	type count struct{ tests, failures, skipped int }
	want := map[string]count{
		"plinth.cost":        {1, 0, 0},
		"plinth.custom":      {1, 1, 0},
		"plinth.reliability": {2, 0, 1},
		"plinth.security":    {2, 2, 0},
		"plinth.tagging":     {1, 1, 0},
	}
	if len(doc.Suites) != len(want) {
		t.Errorf("%d suites, want %d", len(doc.Suites), len(want))
	}
	total := count{}
	for _, s := range doc.Suites {
		w, ok := want[s.Name]
		if !ok {
			t.Errorf("unexpected suite %s", s.Name)
			continue
		}
		got := count{s.Tests, s.Failures, s.Skipped}
		if got != w || len(s.Cases) != w.tests {
			t.Errorf("%s: %+v with %d cases, want %+v", s.Name, got, len(s.Cases), w)
		}
		// The counts agree with the test cases.
		cases := count{tests: len(s.Cases)}
		for _, c := range s.Cases {
			if c.Classname != s.Name || !strings.HasPrefix(c.Name, strings.TrimPrefix(s.Name, "plinth.")+".") {
				t.Errorf("case %s/%s in suite %s", c.Classname, c.Name, s.Name)
			}
			if c.Failure != nil {
				cases.failures++
				if c.Failure.Type != "mandatory" || c.Failure.Message == "" || !strings.Contains(c.Failure.Text, "mandatory: ") {
					t.Errorf("%s: failure %+v", c.Name, c.Failure)
				}
			}
			if c.Skipped != nil {
				cases.skipped++
			}
		}
		if cases != got {
			t.Errorf("%s: attributes %+v, cases %+v", s.Name, got, cases)
		}
		total.tests += s.Tests
		total.failures += s.Failures
		total.skipped += s.Skipped
	}
	if (count{doc.Tests, doc.Failures, doc.Skipped}) != total || total != (count{7, 4, 1}) {
		t.Errorf("testsuites %d/%d/%d, suites add up to %+v", doc.Tests, doc.Failures, doc.Skipped, total)
	}
	for _, s := range doc.Suites {
		for _, c := range s.Cases {
			switch c.Name {
			case "cost.max-gpus":
				if c.Failure != nil || !strings.Contains(c.SystemOut, "advisory: NodeGroup ml-prod-train: node group ml-prod-train can grow to 16") {
					t.Errorf("advisory violation: failure %v, system-out %q", c.Failure, c.SystemOut)
				}
			case "reliability.rds-multi-az":
				if c.Skipped == nil || c.Failure != nil {
					t.Error("disabled policy is not skipped")
				}
			case "security.s3-no-public-acl":
				if c.Failure == nil || !strings.Contains(c.Failure.Text, `public ACL "public-read" (spec.storage.buckets[1], blueprints/production.yaml:31)`) {
					t.Errorf("s3 failure %+v", c.Failure)
				}
			}
		}
	}
}

func TestArtifactURI(t *testing.T) {
	for in, want := range map[string]string{
		"blueprints/prod.yaml":    "blueprints/prod.yaml",
		"./blueprints/prod.yaml":  "blueprints/prod.yaml",
		`blueprints\prod.yaml`:    "blueprints/prod.yaml",
		`.\blueprints\sub\p.yaml`: "blueprints/sub/p.yaml",
		"prod.yaml":               "prod.yaml",
	} {
		if got := artifactURI(in); got != want {
			t.Errorf("artifactURI(%q) = %q, want %q", in, got, want)
		}
	}
}
