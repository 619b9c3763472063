package containerdruntime

import (
	"os"
	"testing"
)

// TestMain lets this test binary serve as the containers' log driver: the
// Runtimes under test default to os.Executable(), and the shim runs it with
// log-driver arguments.
func TestMain(m *testing.M) {
	RunLoggerIfInvoked()
	os.Exit(m.Run())
}
