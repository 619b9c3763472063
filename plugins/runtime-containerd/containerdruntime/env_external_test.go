package containerdruntime_test

import (
	"github.com/skiffhq/skiff/plugins/runtime-containerd/containerdruntime"
	"github.com/skiffhq/skiff/test/testenv"
)

// An external test package may import testenv, which imports
// containerdruntime; the tests inside the package get its functions here.
func init() {
	containerdruntime.EnvRequireRoot = testenv.RequireRoot
	containerdruntime.EnvContainerd = testenv.Containerd
}
