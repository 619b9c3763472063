package overlay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
)

// iptables runs the iptables commands. The node's own chains are few and
// change only on SetupNode, so they are kept with single commands; the
// service chains are rewritten as a whole with iptables-restore (see
// services.go).
type iptables struct {
	// path is the iptables binary; "" means "iptables" from PATH. The
	// restore and save commands are looked up beside it.
	path string
}

// chainRules is one chain of our own: the rules in built-in chains that
// jump to it, and the rules it holds.
type chainRules struct {
	table   string
	parents []string // built-in chains that jump to ours
	chain   string
	jump    []string // rule spec of the jump, without -j
	rules   [][]string
	// restored: the rules are written by iptables-restore, not by ensure,
	// which only makes the chain and the jumps.
	restored bool
}

func (c chainRules) jumpSpec() []string {
	return append(append([]string(nil), c.jump...), "-j", c.chain)
}

// masqMark is the packet mark bit that asks SKIFF-MASQ-<bridge> to
// masquerade a packet whatever its addresses (kube-proxy's 0x4000): the
// service chains set it on hairpin traffic and on traffic to a ClusterIP
// from outside the cluster.
const masqMark = "0x4000/0x4000"

// nodeChains are the chains of a bridge, for a PodCIDR inside a
// ClusterCIDR, in the order they must be made (a chain that another jumps
// to comes first) and the reverse of the order they must be removed in.
func nodeChains(bridge, podCIDR, clusterCIDR string) []chainRules {
	comment := func(s string) []string { return []string{"-m", "comment", "--comment", "skiff " + bridge + ": " + s} }
	return []chainRules{
		{
			// Rejects connections to service ports without endpoints
			// (rules written by SetServices). Jumped to from OUTPUT, and
			// from SKIFF-FWD-<bridge> before it accepts pod traffic.
			table: "filter", parents: []string{"OUTPUT"}, chain: noEndpointsChain(bridge),
			jump: comment("services without endpoints"), restored: true,
		},
		{
			table: "filter", parents: []string{"FORWARD"}, chain: forwardChain(bridge),
			jump: comment("forward pod traffic"),
			rules: [][]string{
				append(comment("services without endpoints"), "-j", noEndpointsChain(bridge)),
				append([]string{"-s", clusterCIDR}, append(comment("from pods"), "-j", "ACCEPT")...),
				append([]string{"-d", clusterCIDR}, append(comment("to pods"), "-j", "ACCEPT")...),
			},
		},
		{
			// Service virtual IPs (rules written by SetServices).
			table: "nat", parents: []string{"PREROUTING", "OUTPUT"}, chain: servicesChain(bridge),
			jump: comment("service portals"), restored: true,
		},
		{
			table: "nat", parents: []string{"POSTROUTING"}, chain: natChain(bridge),
			jump: comment("masquerade pod egress"),
			rules: [][]string{
				append([]string{"-m", "mark", "--mark", masqMark}, append(comment("marked by the service chains"), "-j", "MASQUERADE")...),
				append([]string{"-s", podCIDR, "!", "-d", clusterCIDR}, append(comment("pods to outside the cluster"), "-j", "MASQUERADE")...),
			},
		},
	}
}

// Chain names carry the bridge name (at most 15 characters), which keeps
// them under iptables' 28-character limit.
func natChain(bridge string) string         { return "SKIFF-MASQ-" + bridge }
func forwardChain(bridge string) string     { return "SKIFF-FWD-" + bridge }
func servicesChain(bridge string) string    { return "SKIFF-SVCS-" + bridge }
func noEndpointsChain(bridge string) string { return "SKIFF-NOEP-" + bridge }

// ensure makes the chain hold exactly c.rules, in order (unless
// c.restored), and every parent jump to it first. Calling it again changes
// nothing.
func (t *iptables) ensure(ctx context.Context, c chainRules) error {
	if err := t.ensureChain(ctx, c.table, c.chain); err != nil {
		return err
	}
	if !c.restored {
		ok, err := t.holdsExactly(ctx, c)
		if err != nil {
			return err
		}
		if !ok {
			if _, err := t.run(ctx, "-t", c.table, "-F", c.chain); err != nil {
				return err
			}
			for _, r := range c.rules {
				if _, err := t.run(ctx, append([]string{"-t", c.table, "-A", c.chain}, r...)...); err != nil {
					return err
				}
			}
		}
	}
	for _, parent := range c.parents {
		jumps, err := t.exists(ctx, c.table, parent, c.jumpSpec())
		if err != nil {
			return err
		}
		if jumps {
			continue
		}
		if _, err := t.run(ctx, append([]string{"-t", c.table, "-I", parent, "1"}, c.jumpSpec()...)...); err != nil {
			return err
		}
	}
	return nil
}

// remove deletes the parents' jumps (every copy of them) and the chain.
// Removing what is not there is not an error.
func (t *iptables) remove(ctx context.Context, c chainRules) error {
	present, err := t.chainExists(ctx, c.table, c.chain)
	if err != nil || !present {
		// No chain, so no jump to it either: iptables refuses to delete a
		// chain that is jumped to.
		return err
	}
	for _, parent := range c.parents {
		for {
			jumps, err := t.exists(ctx, c.table, parent, c.jumpSpec())
			if err != nil {
				return err
			}
			if !jumps {
				break
			}
			if _, err := t.run(ctx, append([]string{"-t", c.table, "-D", parent}, c.jumpSpec()...)...); err != nil {
				return err
			}
		}
	}
	if _, err := t.run(ctx, "-t", c.table, "-F", c.chain); err != nil {
		return err
	}
	_, err = t.run(ctx, "-t", c.table, "-X", c.chain)
	return err
}

// chains lists the names of the chains of a table (iptables-save's
// ":NAME policy [counters]" lines).
func (t *iptables) chains(ctx context.Context, table string) ([]string, error) {
	out, err := t.exec(ctx, t.tool("iptables-save"), nil, "-t", table)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if name, ok := strings.CutPrefix(line, ":"); ok {
			if f := strings.Fields(name); len(f) > 0 {
				names = append(names, f[0])
			}
		}
	}
	return names, nil
}

// restore feeds rules to iptables-restore --noflush: each table between
// "*table" and "COMMIT" is replaced in one transaction, and only the chains
// it declares are flushed.
func (t *iptables) restore(ctx context.Context, rules string) error {
	_, err := t.exec(ctx, t.tool("iptables-restore"), strings.NewReader(rules), "-w", "--noflush")
	return err
}

// tool is the path of an iptables companion command (iptables-save,
// iptables-restore) beside t.path.
func (t *iptables) tool(name string) string {
	if t.path == "" {
		return name
	}
	dir, base := filepath.Split(t.path)
	return filepath.Join(dir, strings.Replace(base, "iptables", name, 1))
}

// holdsExactly reports whether the chain has c.rules and nothing else.
func (t *iptables) holdsExactly(ctx context.Context, c chainRules) (bool, error) {
	out, err := t.run(ctx, "-t", c.table, "-S", c.chain)
	if err != nil {
		return false, err
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "-A ") {
			n++
		}
	}
	if n != len(c.rules) {
		return false, nil
	}
	for _, r := range c.rules {
		ok, err := t.exists(ctx, c.table, c.chain, r)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func (t *iptables) ensureChain(ctx context.Context, table, chain string) error {
	present, err := t.chainExists(ctx, table, chain)
	if err != nil || present {
		return err
	}
	_, err = t.run(ctx, "-t", table, "-N", chain)
	return err
}

func (t *iptables) chainExists(ctx context.Context, table, chain string) (bool, error) {
	return t.succeeds(ctx, "-t", table, "-S", chain)
}

// exists reports whether chain holds rule (iptables -C).
func (t *iptables) exists(ctx context.Context, table, chain string, rule []string) (bool, error) {
	return t.succeeds(ctx, append([]string{"-t", table, "-C", chain}, rule...)...)
}

// succeeds runs a query: exit status 0 is true, 1 is false (no such rule or
// chain), anything else is an error.
func (t *iptables) succeeds(ctx context.Context, args ...string) (bool, error) {
	_, err := t.run(ctx, args...)
	var exit *exitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && exit.code == 1:
		return false, nil
	default:
		return false, err
	}
}

type exitError struct {
	cmd    string
	args   []string
	code   int
	stderr string
}

func (e *exitError) Error() string {
	return fmt.Sprintf("%s %s: exit status %d: %s", e.cmd, strings.Join(e.args, " "), e.code, e.stderr)
}

// run runs iptables with -w (wait for the xtables lock) and returns stdout.
func (t *iptables) run(ctx context.Context, args ...string) (string, error) {
	bin := t.path
	if bin == "" {
		bin = "iptables"
	}
	return t.exec(ctx, bin, nil, append([]string{"-w"}, args...)...)
}

// exec runs one of the iptables commands. It runs on the calling thread,
// so in the node's namespace when called under hostNS.do.
func (t *iptables) exec(ctx context.Context, bin string, stdin io.Reader, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return stdout.String(), &exitError{cmd: filepath.Base(bin), args: args, code: exit.ExitCode(), stderr: strings.TrimSpace(stderr.String())}
	}
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}
