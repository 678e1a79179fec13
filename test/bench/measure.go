package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Proc is what one finished process cost, as the operating system
// accounted it (the process and every child it waited for).
type Proc struct {
	// Wall is the elapsed time, in seconds.
	Wall float64 `json:"wall"`
	// User and Sys are CPU seconds in user and kernel mode.
	User float64 `json:"user"`
	Sys  float64 `json:"sys"`
	// MaxRSSMiB is the peak resident set of the largest single process, MiB
	// (0 where the platform does not say).
	MaxRSSMiB float64 `json:"maxRSSMiB"`
	// ExitCode is the process's exit status.
	ExitCode int `json:"exitCode"`
}

// CPU is User + Sys.
func (p Proc) CPU() float64 { return p.User + p.Sys }

// Command is a process to run and measure.
type Command struct {
	// Dir is the working directory (empty: the current one).
	Dir string
	// Env is added to the current environment (KEY=value).
	Env []string
	// Args are the program and its arguments.
	Args []string
	// OKCodes are exit codes that count as success besides 0 (plinth plan
	// exits 1 on a mandatory policy violation, which is not a failure here).
	OKCodes []int
	// Launcher, when set, is the benchrun binary (test/bench/cmd/benchrun)
	// that starts the command and reports its cost. Without it the peak RSS
	// of a command started from a large process includes that process's
	// RSS (Linux keeps the high-water mark across exec).
	Launcher string
}

// Run runs the command to completion and returns what it cost. Its output
// is kept only to explain a failure: an exit code not in OKCodes is an
// error showing the end of the output.
func (c Command) Run(ctx context.Context) (Proc, error) {
	if len(c.Args) == 0 {
		return Proc{}, fmt.Errorf("run: no command")
	}
	args, env := c.Args, append(os.Environ(), c.Env...)
	var costFile string
	if c.Launcher != "" {
		f, err := os.CreateTemp("", "plinth-benchrun-*.json")
		if err != nil {
			return Proc{}, fmt.Errorf("run: %w", err)
		}
		f.Close()
		costFile = f.Name()
		defer os.Remove(costFile)
		args = append([]string{c.Launcher}, args...)
		env = append(env, "BENCHRUN_OUT="+costFile)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start).Seconds()
	if cmd.ProcessState == nil {
		return Proc{}, fmt.Errorf("run %s: %w", strings.Join(c.Args, " "), err)
	}
	st := cmd.ProcessState
	p := Proc{
		Wall:      wall,
		User:      st.UserTime().Seconds(),
		Sys:       st.SystemTime().Seconds(),
		MaxRSSMiB: maxRSSMiB(st),
		ExitCode:  st.ExitCode(),
	}
	if costFile != "" {
		if err := readCost(costFile, &p); err != nil {
			return p, fmt.Errorf("run %s: %w\n%s", strings.Join(c.Args, " "), err, out.String())
		}
	}
	if p.ExitCode != 0 && !containsInt(c.OKCodes, p.ExitCode) {
		tail := out.String()
		if len(tail) > 2000 {
			tail = "..." + tail[len(tail)-2000:]
		}
		return p, fmt.Errorf("run %s: exit %d: %v\n%s", strings.Join(c.Args, " "), p.ExitCode, err, tail)
	}
	return p, nil
}

// readCost replaces p's figures with those benchrun wrote.
func readCost(file string, p *Proc) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read benchrun's figures: %w", err)
	}
	if len(data) == 0 {
		return fmt.Errorf("benchrun wrote no figures (exit %d)", p.ExitCode)
	}
	var c struct {
		Wall, User, Sys float64
		MaxRSSKB        float64 `json:"maxRSSKB"`
		ExitCode        int     `json:"exitCode"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("read benchrun's figures: %w", err)
	}
	*p = Proc{Wall: c.Wall, User: c.User, Sys: c.Sys, MaxRSSMiB: c.MaxRSSKB / 1024, ExitCode: c.ExitCode}
	return nil
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// DescribeMachine returns the CPU model, core count, memory, OS and Go
// version of this computer (best effort: what cannot be read is left empty).
func DescribeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = procField(data, "model name")
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, err := strconv.ParseFloat(strings.TrimSuffix(procField(data, "MemTotal"), " kB"), 64); err == nil {
			m.MemoryGiB = kb / (1 << 20)
		}
	}
	if data, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`) + " " + runtime.GOARCH
			}
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(data)); len(f) > 0 {
			m.Load = f[0]
		}
	}
	if m.CPU == "" {
		m.CPU = runtime.GOARCH + " CPU"
	}
	return m
}

// procField returns the value of the first "key : value" line of a /proc file.
func procField(data []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
