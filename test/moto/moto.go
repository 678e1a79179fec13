// Package moto starts moto_server, a local mock of the AWS APIs, for tests.
// It follows the Terratest convention: Start fails (or skips) the test on
// error, StartE returns the error.
//
//	endpoint := moto.Start(t) // http://127.0.0.1:PORT, stopped when t ends
package moto

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binary is the program Start looks up on PATH.
const Binary = "moto_server"

// ReadyTimeout is how long StartE waits for moto_server to answer.
const ReadyTimeout = 30 * time.Second

// ErrNotInstalled is returned (wrapped) by StartE when moto_server is not on
// PATH; Start skips the test then.
var ErrNotInstalled = errors.New(Binary + " is not on PATH; install it with `pip install 'moto[server]'` to run the tests that need it")

// Start runs moto_server on a free loopback port until the test ends and
// returns its endpoint URL. It skips the test, saying why, when moto_server
// is not installed, and fails it on any other error.
func Start(t testing.TB) string {
	t.Helper()
	url, err := StartE(t)
	if errors.Is(err, ErrNotInstalled) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatalf("start %s: %v", Binary, err)
	}
	return url
}

// StartE is Start returning the error instead of failing the test. The
// server is stopped (its whole process group) when the test ends.
func StartE(t testing.TB) (string, error) {
	t.Helper()
	bin, err := exec.LookPath(Binary)
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrNotInstalled, err)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}

	out := &syncBuffer{}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = serverEnv(os.Environ())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the pyenv shim may start children
	cmd.WaitDelay = 2 * time.Second                       // do not hang on output a child keeps open
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 2 * time.Second}
	start := time.Now()
	for {
		select {
		case err := <-exited:
			exited <- err // let the cleanup see it too
			return "", fmt.Errorf("%s exited early: %v\n%s", Binary, err, out.String())
		default:
		}
		resp, err := client.Get(url + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			t.Logf("%s ready at %s after %s", Binary, url, time.Since(start).Round(time.Millisecond))
			return url, nil
		}
		if time.Since(start) > ReadyTimeout {
			return "", fmt.Errorf("%s did not answer on %s within %s: %v\n%s", Binary, url, ReadyTimeout, err, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serverEnv is the environment of moto_server: the test's, without any
// AWS_* variable. The server needs no AWS settings, must never see real
// credentials, and breaks on some a test sets for its clients (botocore
// fails every request when AWS_PROFILE is set but empty).
func serverEnv(environ []string) []string {
	env := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return env
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer collects the server's output; the process writes it while the
// test may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
