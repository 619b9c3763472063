package overlay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// iptables runs the iptables command. The rules are few and change only on
// SetupNode, so a small exec wrapper is all we need.
type iptables struct {
	// path is the binary; "" means "iptables" from PATH.
	path string
}

// chainRules is one chain of our own: the rule in a built-in chain that
// jumps to it, and the rules it holds.
type chainRules struct {
	table  string
	parent string // built-in chain that jumps to ours
	chain  string
	jump   []string // rule spec of the jump, without -j
	rules  [][]string
}

func (c chainRules) jumpSpec() []string {
	return append(append([]string(nil), c.jump...), "-j", c.chain)
}

// nodeChains are the chains of a bridge, for a PodCIDR inside a ClusterCIDR.
func nodeChains(bridge, podCIDR, clusterCIDR string) []chainRules {
	comment := func(s string) []string { return []string{"-m", "comment", "--comment", "skiff " + bridge + ": " + s} }
	return []chainRules{
		{
			table: "nat", parent: "POSTROUTING", chain: natChain(bridge),
			jump: comment("masquerade pod egress"),
			rules: [][]string{
				append([]string{"-s", podCIDR, "!", "-d", clusterCIDR}, append(comment("pods to outside the cluster"), "-j", "MASQUERADE")...),
			},
		},
		{
			table: "filter", parent: "FORWARD", chain: forwardChain(bridge),
			jump: comment("forward pod traffic"),
			rules: [][]string{
				append([]string{"-s", clusterCIDR}, append(comment("from pods"), "-j", "ACCEPT")...),
				append([]string{"-d", clusterCIDR}, append(comment("to pods"), "-j", "ACCEPT")...),
			},
		},
	}
}

// Chain names carry the bridge name (at most 15 characters), which keeps
// them under iptables' 28-character limit.
func natChain(bridge string) string     { return "SKIFF-MASQ-" + bridge }
func forwardChain(bridge string) string { return "SKIFF-FWD-" + bridge }

// ensure makes the chain hold exactly c.rules, in order, and the parent
// jump to it first. Calling it again changes nothing.
func (t *iptables) ensure(ctx context.Context, c chainRules) error {
	if err := t.ensureChain(ctx, c.table, c.chain); err != nil {
		return err
	}
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
	jumps, err := t.exists(ctx, c.table, c.parent, c.jumpSpec())
	if err != nil || jumps {
		return err
	}
	_, err = t.run(ctx, append([]string{"-t", c.table, "-I", c.parent, "1"}, c.jumpSpec()...)...)
	return err
}

// remove deletes the parent's jump (every copy of it) and the chain.
// Removing what is not there is not an error.
func (t *iptables) remove(ctx context.Context, c chainRules) error {
	present, err := t.chainExists(ctx, c.table, c.chain)
	if err != nil || !present {
		// No chain, so no jump to it either: iptables refuses to delete a
		// chain that is jumped to.
		return err
	}
	for {
		jumps, err := t.exists(ctx, c.table, c.parent, c.jumpSpec())
		if err != nil {
			return err
		}
		if !jumps {
			break
		}
		if _, err := t.run(ctx, append([]string{"-t", c.table, "-D", c.parent}, c.jumpSpec()...)...); err != nil {
			return err
		}
	}
	if _, err := t.run(ctx, "-t", c.table, "-F", c.chain); err != nil {
		return err
	}
	_, err = t.run(ctx, "-t", c.table, "-X", c.chain)
	return err
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
	args   []string
	code   int
	stderr string
}

func (e *exitError) Error() string {
	return fmt.Sprintf("iptables %s: exit status %d: %s", strings.Join(e.args, " "), e.code, e.stderr)
}

// run runs iptables with -w (wait for the xtables lock) and returns stdout.
func (t *iptables) run(ctx context.Context, args ...string) (string, error) {
	bin := t.path
	if bin == "" {
		bin = "iptables"
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, append([]string{"-w"}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return stdout.String(), &exitError{args: args, code: exit.ExitCode(), stderr: strings.TrimSpace(stderr.String())}
	}
	if err != nil {
		return "", fmt.Errorf("iptables %s: %w", strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}
