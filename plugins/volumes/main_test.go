package main

import (
	"testing"

	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/volumes/conformance"
)

// TestMain lets the test binary act as the plugin binary when a test
// launches it, so the tests load what main serves, the way the core does.
func TestMain(m *testing.M) { plugintest.Main(m, main) }

// TestBinary checks the plugin process's Info and runs the conformance
// suite against it (the process shares this test's mount namespace, so
// the suite's checks see its mounts).
func TestBinary(t *testing.T) { conformance.RunBinary(t, "volumes") }
