package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Report is one `make bench` run: where and when it ran, and what it measured.
type Report struct {
	// Date is when the run started (RFC 3339, UTC).
	Date string `json:"date"`
	// Commit is the git commit measured (with -dirty for local changes).
	Commit string `json:"commit"`
	// Machine describes the computer.
	Machine Machine `json:"machine"`
	// Runs is how many counted runs each timed figure has.
	Runs int `json:"runs"`
	// Duration is how long the whole run took, in seconds.
	Duration float64 `json:"durationSeconds"`
	// Complete is false when a part failed: the tables before it are kept.
	Complete bool `json:"complete"`
	// Sections are the tables, in order.
	Sections []*Section `json:"sections"`
}

// Machine describes the computer a report was measured on.
type Machine struct {
	CPU       string  `json:"cpu"`
	Cores     int     `json:"cores"`
	MemoryGiB float64 `json:"memoryGiB"`
	OS        string  `json:"os"`
	Go        string  `json:"go"`
	// Load is the 1-minute load average when the run started (Linux only).
	Load string `json:"load,omitempty"`
}

// Section is one table of a report.
type Section struct {
	// ID is a stable key, e.g. "plan".
	ID string `json:"id"`
	// Title heads the table.
	Title string `json:"title"`
	// About says what was measured and how, in a sentence or two.
	About string `json:"about,omitempty"`
	// Rows are the table's rows.
	Rows []Row `json:"rows"`
	// Notes follow the table (fits, skips, caveats).
	Notes []string `json:"notes,omitempty"`
}

// Row is one measured case.
type Row struct {
	// Case names what was measured, e.g. "gpu-training" or "p10-b10-r10".
	Case string `json:"case"`
	// Cells are the figures, in column order.
	Cells []Cell `json:"cells"`
}

// Cell is one figure of a row: a summary over runs, or plain text.
type Cell struct {
	// Name is the column, e.g. "wall".
	Name string `json:"name"`
	// Unit is the unit of Summary: "s", "ms", "MiB", "×" (a ratio), or a plain count.
	Unit string `json:"unit,omitempty"`
	// Summary is the figure over runs (nil for Text).
	Summary *Summary `json:"summary,omitempty"`
	// Text is a plain value (a count, a label).
	Text string `json:"text,omitempty"`
}

// Add appends a row to the section and returns it for chaining.
func (s *Section) Add(c string, cells ...Cell) *Section {
	s.Rows = append(s.Rows, Row{Case: c, Cells: cells})
	return s
}

// Figure is a Cell holding the summary of samples.
func Figure(name, unit string, samples []float64) Cell {
	sum := Summarize(samples)
	return Cell{Name: name, Unit: unit, Summary: &sum}
}

// Text is a Cell holding plain text.
func Text(name, text string) Cell { return Cell{Name: name, Text: text} }

// Int is a Cell holding a count.
func Int(name string, n int) Cell { return Cell{Name: name, Text: strconv.Itoa(n)} }

// String formats a cell for a table: "median (min–max) unit" for a summary
// of several runs, "×median (min–max)" for a ratio, the text otherwise.
func (c Cell) String() string {
	if c.Summary == nil {
		return c.Text
	}
	s := *c.Summary
	if s.N == 0 {
		return "–"
	}
	if c.Unit == "×" {
		if s.N == 1 {
			return "×" + num(s.Median)
		}
		return fmt.Sprintf("×%s (%s–%s)", num(s.Median), num(s.Min), num(s.Max))
	}
	unit := ""
	if c.Unit != "" {
		unit = " " + c.Unit
	}
	if s.N == 1 {
		return num(s.Median) + unit
	}
	return fmt.Sprintf("%s (%s–%s)%s", num(s.Median), num(s.Min), num(s.Max), unit)
}

// num prints a figure with three significant digits, in full below a
// million (no exponent) and with thousands separators from 10,000.
func num(v float64) string {
	v = roundSig(v)
	switch a := abs(v); {
	case a >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case a >= 1e4:
		return thousands(int64(v))
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strings.TrimSuffix(strings.TrimRight(strconv.FormatFloat(v, 'f', 3, 64), "0"), ".")
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// header returns the section's columns: the case, then every cell name in
// the order first seen, with its unit.
func (s *Section) header() []string {
	var cols []string
	seen := map[string]bool{}
	for _, r := range s.Rows {
		for _, c := range r.Cells {
			if !seen[c.Name] {
				seen[c.Name] = true
				cols = append(cols, c.Name)
			}
		}
	}
	return cols
}

// Markdown writes the report as Markdown: the machine and date, then one
// table per section. Cells are "median (min–max)" over the counted runs.
func (r *Report) Markdown(w io.Writer) error {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Measured %s at commit `%s` on %s, %d cores, %.0f GiB, %s, %s", r.Date, r.Commit, m.CPU, m.Cores, m.MemoryGiB, m.OS, m.Go)
	if m.Load != "" {
		fmt.Fprintf(&b, " (load average %s at the start)", m.Load)
	}
	if !r.Complete {
		b.WriteString(". INCOMPLETE: a part failed (see the test log); the tables measured before it follow")
	}
	fmt.Fprintf(&b, ". Each figure is the median (min–max) of %d runs unless the column says otherwise; ratios are taken pair by pair from runs made side by side. The whole run took %s.\n", r.Runs, duration(r.Duration))
	for _, s := range r.Sections {
		fmt.Fprintf(&b, "\n### %s\n\n", s.Title)
		if s.About != "" {
			fmt.Fprintf(&b, "%s\n\n", s.About)
		}
		if len(s.Rows) > 0 {
			cols := s.header()
			b.WriteString("| case |")
			for _, c := range cols {
				fmt.Fprintf(&b, " %s |", c)
			}
			b.WriteString("\n|---|")
			for range cols {
				b.WriteString("---:|")
			}
			b.WriteString("\n")
			for _, row := range s.Rows {
				cells := map[string]Cell{}
				for _, c := range row.Cells {
					cells[c.Name] = c
				}
				fmt.Fprintf(&b, "| %s |", row.Case)
				for _, c := range cols {
					fmt.Fprintf(&b, " %s |", cells[c].String())
				}
				b.WriteString("\n")
			}
		}
		for _, n := range s.Notes {
			fmt.Fprintf(&b, "\n- %s", n)
		}
		if len(s.Notes) > 0 {
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func duration(sec float64) string {
	if sec < 120 {
		return fmt.Sprintf("%.0f s", sec)
	}
	return fmt.Sprintf("%.1f min", sec/60)
}

// Write writes bench-results.json and bench-results.md into dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bench-results.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	var md strings.Builder
	if err := r.Markdown(&md); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bench-results.md"), []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
