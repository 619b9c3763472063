package crilog

import (
	"errors"
	"fmt"
)

// The log driver's invocation. The runtime plugin gives a task containerd's
// "binary://<driver>?k1=v1&k2=v2" log URI; the shim runs it as
// "<driver> k1 v1 k2 v2 ..." (the query's pairs in no particular order, with
// CONTAINER_ID and CONTAINER_NAMESPACE in its environment) and the
// container's stdout and stderr pipes on fds 3 and 4 and a "ready" pipe on
// fd 5 (containerd's runtime/v2/logging protocol).
const (
	// ArgMarker, with value DriverVersion, marks an invocation as skiff's:
	// a driver refuses arguments without it (and a newer plugin may ask an
	// older driver for what it cannot do).
	ArgMarker     = "skiff-log-driver"
	DriverVersion = "1"

	ArgPath = "log-path" // the log file, appended to
	ArgTTY  = "tty"      // "true": the output is a terminal's, all of it on stdout
)

// DriverArgs is what the plugin asks of one log driver.
type DriverArgs struct {
	Path string // absolute
	TTY  bool
}

// Query returns the URI query that makes the shim pass args.
func (a DriverArgs) Query() map[string]string {
	q := map[string]string{ArgMarker: DriverVersion, ArgPath: a.Path}
	if a.TTY {
		q[ArgTTY] = "true"
	}
	return q
}

// ParseDriverArgs reads the driver's command-line arguments (without the
// program name).
func ParseDriverArgs(args []string) (DriverArgs, error) {
	if len(args) == 0 || len(args)%2 != 0 {
		return DriverArgs{}, errors.New("want key-value pairs")
	}
	kv := make(map[string]string, len(args)/2)
	for i := 0; i < len(args); i += 2 {
		kv[args[i]] = args[i+1]
	}
	if v, ok := kv[ArgMarker]; !ok {
		return DriverArgs{}, fmt.Errorf("no %q argument", ArgMarker)
	} else if v != DriverVersion {
		return DriverArgs{}, fmt.Errorf("%s %q: this driver speaks version %q", ArgMarker, v, DriverVersion)
	}
	a := DriverArgs{Path: kv[ArgPath], TTY: kv[ArgTTY] == "true"}
	if a.Path == "" {
		return DriverArgs{}, fmt.Errorf("no %q argument", ArgPath)
	}
	return a, nil
}
