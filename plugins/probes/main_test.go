package main

import (
	"testing"

	"github.com/skiffhq/skiff/sdk/base/plugintest"
	"github.com/skiffhq/skiff/sdk/probes/conformance"
)

// TestMain lets the test binary act as the plugin binary when a test
// launches it, so the tests load what main serves, the way the core does.
func TestMain(m *testing.M) { plugintest.Main(m, main) }

// TestBinary checks the plugin process's Info, runs the conformance suite
// against it, and runs an exec probe in it through a Host the test offers
// over the broker, with AutoMTLS.
func TestBinary(t *testing.T) { conformance.RunBinary(t, "probes") }
