package e2e

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestQuickstartAsPrinted runs `gatehouse quickstart` and executes the
// printed command lines exactly as printed, in a shell, from the repository
// root: the passing call, the rejections, and the explain line.
func TestQuickstartAsPrinted(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed for this test (the quickstart prints curl lines): apt-get install curl")
	}
	cmd := exec.Command(binary, "quickstart", "--dir", t.TempDir())
	cmd.Env = append(os.Environ(), "GATEHOUSE_PROXY_ADDR=127.0.0.1:0", "GATEHOUSE_ADMIN_ADDR=127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var printed []string
	timeout := time.After(30 * time.Second)
collect:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("quickstart exited early; printed:\n%s", strings.Join(printed, "\n"))
			}
			printed = append(printed, l)
			if strings.HasPrefix(l, "Every rejection") {
				break collect
			}
		case <-timeout:
			t.Fatalf("quickstart printed no instructions in 30s:\n%s", strings.Join(printed, "\n"))
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	var cmds []string
	for _, l := range printed {
		if strings.HasPrefix(l, "curl ") || strings.HasPrefix(l, "GATEHOUSE_ADMIN_URL=") {
			cmds = append(cmds, l)
		}
	}
	if len(cmds) != 4 {
		t.Fatalf("want 3 curl lines and 1 explain line, got %d:\n%s", len(cmds), strings.Join(printed, "\n"))
	}
	want := [][]string{
		{"Hello from the demo upstream", `"tenant":"demo"`},
		{`"code":"key.revoked"`, "leaked in a screenshot", `"request_id":"`},
		{`"code":"key.checksum_mismatch"`, `"request_id":"`},
		{"key.revoked", "leaked in a screenshot", "verify"},
	}
	for i, c := range cmds {
		sh := exec.Command("bash", "-c", c)
		sh.Dir = repoRoot()
		got, err := sh.CombinedOutput()
		if err != nil {
			t.Fatalf("printed line %d failed: %v\n%s\n%s", i+1, err, c, got)
		}
		for _, w := range want[i] {
			if !strings.Contains(string(got), w) {
				t.Errorf("line %d output lacks %q:\n%s\n%s", i+1, w, c, got)
			}
		}
	}
}
