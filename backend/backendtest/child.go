package backendtest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Child is a child process of a crash or multi-process test: the test
// binary run again with -test.run selecting one entry point, and the
// environment telling it what to do. It reports to the parent in lines on
// its standard output (Emit).
type Child struct {
	// Cmd is the running command; kill it with Cmd.Process.Kill.
	Cmd *exec.Cmd
	// Stderr collects the child's stderr; read it after Done.
	Stderr *bytes.Buffer
	// Done is closed once every line of the child's stdout has been handed
	// to the callback, that is after the child exited or was killed.
	Done chan struct{}
}

// StartChild runs the test binary as a child that runs only the test entry,
// with env added to its environment and stdin (which may be nil) as its
// standard input, and calls onLine, from one goroutine, with each line the
// child prints on stdout.
func StartChild(t testing.TB, entry string, stdin io.Reader, onLine func(string), env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+entry+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = stdin
	c := &Child{Cmd: cmd, Stderr: &bytes.Buffer{}, Done: make(chan struct{})}
	cmd.Stderr = c.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	go func() {
		defer close(c.Done)
		// A child killed mid-write leaves no partial line: each line is a
		// single write(2) of less than PIPE_BUF bytes (see Emit).
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			onLine(sc.Text())
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	return c
}

// Wait waits for the child to exit and for its last line, and returns its
// exit error.
func (c *Child) Wait() error {
	<-c.Done
	return c.Cmd.Wait()
}

// Emit writes one protocol line to a child's stdout in a single write, and
// only returns once the write did: a line is on its way to the parent
// before the child does anything else. It exits if the parent is gone.
func Emit(fields ...string) {
	if _, err := os.Stdout.WriteString(strings.Join(fields, " ") + "\n"); err != nil {
		os.Exit(4)
	}
}

// ChildFail reports a child's unexpected error on stderr, with its cause,
// and exits with status 3.
func ChildFail(err error) {
	fmt.Fprintf(os.Stderr, "child: %s\n", DescribeError(err))
	os.Exit(3)
}

// DescribeError returns err's text and, for a *secretstore.Error, the text
// of its cause, which its Error method leaves out.
func DescribeError(err error) string { return fmt.Sprint(err) + Cause(err) }

// AwaitGo is a child's side of RunTogether: it prints "READY" and waits for
// the parent's signal to go.
func AwaitGo() error {
	Emit("READY")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("waiting for the start signal: %w", err)
	}
	return nil
}

// RunTogether runs n children of the test entry so that they start their
// work at the same moment: child i gets env(i) added to its environment,
// and each line it prints, but "READY", goes to onLine(i, line) (from one
// goroutine per child). Once every child has called AwaitGo, RunTogether
// lets them all go and waits for them. A child that fails, or is not ready
// within a minute, fails the test, which then stops.
func RunTogether(t *testing.T, n int, entry string, env func(i int) []string, onLine func(i int, line string)) {
	t.Helper()
	children := make([]*Child, n)
	ready := make([]chan struct{}, n)
	starts := make([]*os.File, n)
	for i := range n {
		ready[i] = make(chan struct{})
		pr, pw, err := os.Pipe()
		require.NoError(t, err)
		children[i] = StartChild(t, entry, pr, func(l string) {
			if l == "READY" {
				close(ready[i])
				return
			}
			onLine(i, l)
		}, env(i)...)
		pr.Close()
		c := children[i]
		t.Cleanup(func() {
			pw.Close()
			_ = c.Cmd.Process.Kill() // a no-op once the child has exited
		})
		starts[i] = pw
	}
	for i := range n {
		select {
		case <-ready[i]:
		case <-children[i].Done:
		case <-time.After(time.Minute):
			t.Fatalf("child %d did not get ready within a minute", i)
		}
	}
	for _, w := range starts {
		_, _ = w.WriteString("go\n") // a child that already died fails below
	}
	for i, c := range children {
		if err := c.Wait(); err != nil {
			t.Errorf("child %d: %v; stderr:\n%s", i, err, c.Stderr)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}
