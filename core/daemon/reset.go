package daemon

// `skiffd reset` is kubeadm reset's twin: it removes what `skiffd dev`,
// `skiffd server` or `skiffd agent` left on this host once stopped. Pods
// keep running when skiffd stops (they belong to containerd's shims), so a
// stopped node still has its containers, pod network namespaces, bridge,
// VXLAN device, iptables chains, volume mounts and data dir.
//
// The steps, each going on after a failed one:
//
//  1. checks: the data dir looks like skiffd's, no skiffd runs on it (found
//     by its command line in /proc, and by the lock etcd holds on its
//     database), then the user confirms (--force, required when standard
//     input is not a terminal, skips the question);
//  2. containers: every task and container (sandboxes are containers) of
//     the node's containerd namespace, in the containerd at
//     --containerd-socket when it answers, and in the containerd skiffd
//     started under the data dir when there is one: it is started for the
//     cleanup if it is not running and stopped afterwards (also when a
//     skiffd that was killed left it running), and its shims are killed.
//     Images are kept, as kubeadm reset keeps them;
//  3. network: the network plugin of the node's profile is launched as the
//     agent launches it and asked to TeardownNode (pods' links and
//     namespaces, bridge, VXLAN, iptables chains and their jumps, DNS);
//  4. mounts: everything mounted under the data dir, deepest first (sandbox
//     namespaces and /dev/shm, tmpfs volumes, pod network namespaces);
//  5. the data dir (etcd data, PKI, admin.conf, plugin state, logs), only
//     when every step before succeeded, so that a reset that failed half way
//     can run again with the state it needs.
//
// The user's client config is left alone; as kubeadm does, reset says so.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"golang.org/x/sys/unix"

	"github.com/skiffhq/skiff/core/clientconfig"
	"github.com/skiffhq/skiff/core/containerdproc"
	"github.com/skiffhq/skiff/core/nodeclean"
	"github.com/skiffhq/skiff/core/pluginhost"
	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/network"
)

// DefaultRuntimeNamespace is the containerd namespace of a node whose
// runtime plugin is given none (the runtime plugin's default).
const DefaultRuntimeNamespace = "skiff"

// ResetOptions configure Reset.
type ResetOptions struct {
	// Options are the node's, as given to skiffd dev or agent: DataDir,
	// ContainerdSocket, RuntimeNamespace, PodBridge, PluginDir, ConfigFile
	// and Profile are used.
	Options
	// Force skips the confirmation.
	Force bool
	// In answers the confirmation; Out gets the report.
	In  io.Reader
	Out io.Writer

	// procDir is /proc, where running skiffds are looked for (tests
	// change it).
	procDir string
	// isTerminal tells whether In is a terminal (tests change it).
	isTerminal func(io.Reader) bool
}

// dataDirEntries are what skiffd makes in its data dir. A directory holding
// none of them is not removed.
var dataDirEntries = []string{"admin.conf", "pki", "etcd", "plugins", "containerd", "pods", nodeCredentialsDir, "join-token"}

// Reset removes what skiffd made on this host for the node of r.DataDir.
// See the comment at the top of this file.
func Reset(ctx context.Context, r ResetOptions) error {
	if r.Out == nil {
		r.Out = io.Discard
	}
	if r.procDir == "" {
		r.procDir = "/proc"
	}
	if r.isTerminal == nil {
		r.isTerminal = isTerminal
	}
	o := &r.Options
	if err := o.resetDefaults(); err != nil {
		return err
	}
	if err := checkResetDataDir(o.DataDir); err != nil {
		return err
	}
	if err := checkNoSkiffd(r.procDir, o.DataDir); err != nil {
		return err
	}
	if err := checkNoSharedNode(r.procDir, o); err != nil {
		return err
	}
	if err := confirmReset(r.In, r.Out, r.Force, r.isTerminal(r.In), o.DataDir); err != nil {
		return err
	}
	rs := &resetRun{o: o, out: r.Out}
	_, statErr := os.Stat(o.DataDir)
	existed := statErr == nil
	// What skiffd left, before the network plugin adds its directories.
	entries, _ := os.ReadDir(o.DataDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}

	host := pluginhost.New(o.NodeName, filepath.Join(o.DataDir, "plugins", "logs"))
	specs := map[base.Kind]pluginhost.Spec{}
	for _, s := range nodePluginSpecs(o, o.ContainerdSocket, host) {
		specs[s.Kind] = s
	}
	rs.containers(ctx, specs[base.KindRuntime])
	rs.network(ctx, host, specs[base.KindNetwork])
	rs.unmount()
	if err := errors.Join(rs.errs...); err != nil {
		return fmt.Errorf("reset incomplete, %s kept so that reset can run again (fix what failed, then run skiffd reset again): %w", o.DataDir, err)
	}
	if existed {
		if err := rs.removeDataDir(names); err != nil {
			return err
		}
	} else {
		// Launching the network plugin made its directories.
		if err := os.RemoveAll(o.DataDir); err != nil {
			return fmt.Errorf("remove %s: %w", o.DataDir, err)
		}
	}
	if rs.removed == 0 {
		rs.say("Nothing was left to remove: this node is already reset")
	}
	rs.trailer()
	return nil
}

// resetDefaults is defaults for reset: nothing is made, and only what
// reset uses is filled in.
func (o *Options) resetDefaults() error {
	if err := o.absDataDir(); err != nil {
		return err
	}
	if err := o.loadConfig(); err != nil {
		return err
	}
	if err := o.nodeDefaults(); err != nil {
		return err
	}
	if o.ContextName == "" {
		o.ContextName = "skiff"
	}
	return nil
}

// checkResetDataDir refuses a data dir that reset must not remove: the
// root, a file, or a directory with content none of which skiffd makes (a
// mistyped --data-dir).
func checkResetDataDir(dir string) error {
	if filepath.Dir(dir) == dir {
		return fmt.Errorf("--data-dir %s: refusing to reset the root directory", dir)
	}
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("data dir %s: not a directory", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	for _, e := range entries {
		if slices.Contains(dataDirEntries, e.Name()) {
			return nil
		}
	}
	return fmt.Errorf("data dir %s does not look like skiffd's (it holds none of %s): not resetting it; check --data-dir",
		dir, strings.Join(dataDirEntries, ", "))
}

// checkNoSkiffd refuses while a skiffd runs on dataDir.
func checkNoSkiffd(procDir, dataDir string) error {
	if procs := runningSkiffds(procDir, dataDir); len(procs) > 0 {
		var desc []string
		var pids []string
		for _, p := range procs {
			desc = append(desc, fmt.Sprintf("PID %d: %s", p.pid, strings.Join(p.args, " ")))
			pids = append(pids, strconv.Itoa(p.pid))
		}
		return fmt.Errorf("skiffd is running with data dir %s (%s): stop it first (Ctrl-C, or kill -TERM %s); reset removes what it runs on",
			dataDir, strings.Join(desc, "; "), strings.Join(pids, " "))
	}
	db := filepath.Join(dataDir, "etcd", "member", "snap", "db")
	if inUse, err := flockHeld(db); err != nil {
		return fmt.Errorf("etcd's database %s: %w", db, err)
	} else if inUse {
		return fmt.Errorf("etcd's database %s is in use, a skiffd must be running with data dir %s: stop it first", db, dataDir)
	}
	return nil
}

// skiffdProc is a running skiffd.
type skiffdProc struct {
	pid  int
	args []string
}

// runningSkiffds finds the skiffd dev, server and agent processes whose
// --data-dir is dataDir, by their command lines under procDir.
func runningSkiffds(procDir, dataDir string) []skiffdProc {
	want := canonicalPath(dataDir)
	var out []skiffdProc
	for _, p := range otherProcesses(procDir) {
		pid, args := p.pid, p.args
		dir, ok := skiffdDataDir(args)
		if !ok {
			continue
		}
		if !filepath.IsAbs(dir) {
			cwd, err := os.Readlink(filepath.Join(procDir, strconv.Itoa(pid), "cwd"))
			if err != nil {
				continue
			}
			dir = filepath.Join(cwd, dir)
		}
		if canonicalPath(dir) == want {
			out = append(out, skiffdProc{pid: pid, args: args})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out
}

// skiffdDataDir is the data dir of a `skiffd dev|server|agent` command
// line (the flag's default when not given); ok is false for any other
// command.
func skiffdDataDir(args []string) (dir string, ok bool) {
	sub, flags := parseSkiffdArgs(args)
	switch sub {
	case "dev", "server", "agent":
		return flags["data-dir"], true
	}
	return "", false
}

// parseSkiffdArgs reads a skiffd command line: its subcommand ("" when it
// is not skiffd) and the values of the flags reset compares, defaults
// filled in.
func parseSkiffdArgs(args []string) (sub string, flags map[string]string) {
	if len(args) < 2 || filepath.Base(args[0]) != "skiffd" {
		return "", nil
	}
	flags = map[string]string{
		"data-dir": "/var/lib/skiff", "containerd-socket": "/run/containerd/containerd.sock",
		"runtime-namespace": DefaultRuntimeNamespace, "pod-bridge": "skiff0",
	}
	for i := 1; i < len(args); i++ {
		a := strings.TrimPrefix(strings.TrimPrefix(args[i], "-"), "-")
		switch {
		case args[i] == "--":
			i = len(args)
		case !strings.HasPrefix(args[i], "-"):
			if sub == "" {
				sub = args[i]
			}
		default:
			name, value, hasValue := strings.Cut(a, "=")
			if _, known := flags[name]; !known {
				continue
			}
			if !hasValue && i+1 < len(args) {
				value = args[i+1]
				i++
			}
			flags[name] = value
		}
	}
	return sub, flags
}

// otherProcesses are the processes under procDir with a command line
// (their args in skiffdProc, whatever they run), this one aside.
func otherProcesses(procDir string) []skiffdProc {
	entries, _ := os.ReadDir(procDir)
	var out []skiffdProc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(procDir, e.Name(), "cmdline"))
		if err != nil || len(data) == 0 {
			continue
		}
		out = append(out, skiffdProc{pid: pid, args: strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")})
	}
	return out
}

// checkNoSharedNode refuses while another skiffd dev or agent (another
// data dir) runs on what reset would remove: the same containerd
// namespace of the same containerd, or the same pod bridge in this network
// namespace. Reset removes by namespace and by bridge name, so it would
// take that node's pods with it. Settings a --config profile changes are
// not seen; the flags are.
func checkNoSharedNode(procDir string, o *Options) error {
	ns := o.RuntimeNamespace
	if ns == "" {
		ns = DefaultRuntimeNamespace
	}
	bridge := o.PodBridge
	if bridge == "" {
		bridge = "skiff0"
	}
	ownNet, _ := os.Readlink(filepath.Join(procDir, "self", "ns", "net"))
	for _, p := range otherProcesses(procDir) {
		pid, args := p.pid, p.args
		sub, flags := parseSkiffdArgs(args)
		if sub != "dev" && sub != "agent" {
			continue
		}
		what := ""
		switch {
		case flags["containerd-socket"] == o.ContainerdSocket && flags["runtime-namespace"] == ns:
			what = fmt.Sprintf("containerd namespace %q of %s", ns, o.ContainerdSocket)
		case flags["pod-bridge"] == bridge:
			if net, _ := os.Readlink(filepath.Join(procDir, strconv.Itoa(pid), "ns", "net")); net != "" && net == ownNet {
				what = fmt.Sprintf("pod bridge %s", bridge)
			}
		}
		if what != "" {
			return fmt.Errorf("skiffd (PID %d: %s) runs a node on the same %s: reset would remove its pods too; stop it first, or give reset the --runtime-namespace, --containerd-socket and --pod-bridge of the node to reset",
				pid, strings.Join(args, " "), what)
		}
	}
	return nil
}

// canonicalPath is path cleaned, with symbolic links resolved when it
// exists.
func canonicalPath(path string) string {
	path = filepath.Clean(path)
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	return path
}

// flockHeld reports whether another process holds a lock on path (etcd
// flocks its database while open). A missing file is not locked.
func flockHeld(path string) (bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return true, nil
		}
		return false, err
	}
	return false, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// errNotConfirmed is the error of a reset the user did not confirm.
var errNotConfirmed = errors.New("reset aborted: nothing was changed")

// confirmReset asks the user to confirm unless force. Without a terminal
// to ask on, --force is required.
func confirmReset(in io.Reader, out io.Writer, force, terminal bool, dataDir string) error {
	if force {
		return nil
	}
	if in == nil || !terminal {
		return fmt.Errorf("standard input is not a terminal, so reset cannot ask for confirmation: run skiffd reset --force to reset without asking")
	}
	fmt.Fprintf(out, "[reset] WARNING: everything skiffd made on this host for the node of %s will be removed: its containers, pod network and mounts, and the data dir with etcd's data and the cluster's PKI.\n", dataDir)
	fmt.Fprint(out, "[reset] Are you sure you want to proceed? [y/N]: ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read confirmation: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errNotConfirmed
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// resetRun is one reset: its report and the errors of its steps.
type resetRun struct {
	o       *Options
	out     io.Writer
	errs    []error
	removed int // things removed, for "nothing was left"
	// ns is the node's containerd namespace; images counts the images
	// kept in it, by containerd socket.
	ns     string
	images map[string]int
}

func (rs *resetRun) say(format string, args ...any) {
	fmt.Fprintf(rs.out, "[reset] "+format+"\n", args...)
}

func (rs *resetRun) fail(err error) {
	rs.say("ERROR: %v", err)
	rs.errs = append(rs.errs, err)
}

// runtimeSetting is the runtime plugin's setting name as the agent gives
// it: the profile's, else what the core offers.
func runtimeSetting(spec pluginhost.Spec, name string) string {
	if v, ok := spec.Settings[name]; ok {
		return v
	}
	return spec.Offered[name]
}

// containers removes the node's containers from the containerd at the
// configured socket and from the one skiffd started under the data dir.
func (rs *resetRun) containers(ctx context.Context, runtimeSpec pluginhost.Spec) {
	ns := runtimeSetting(runtimeSpec, "namespace")
	if ns == "" {
		ns = DefaultRuntimeNamespace
	}
	rs.ns = ns
	socket := runtimeSetting(runtimeSpec, "address")
	ownDir := filepath.Join(rs.o.DataDir, "containerd")
	ownSocket := filepath.Join(ownDir, "containerd.sock")
	_, err := os.Stat(filepath.Join(ownDir, "config.toml"))
	haveOwn := err == nil && socket != ownSocket
	answers := containerdproc.Answers(socket)
	if answers {
		rs.removeContainers(ctx, socket, ns, true)
	}
	if haveOwn {
		rs.ownContainerd(ctx, ownDir, ownSocket, ns)
	}
	if !answers && !haveOwn {
		rs.say("No containerd answers on %s and skiffd started none under %s: no containers to remove", socket, rs.o.DataDir)
	}
}

// ownContainerd cleans the containerd skiffd started under dir: the one a
// killed skiffd left running, else one started for the purpose. Either is
// stopped afterwards, and its shims are killed.
func (rs *resetRun) ownContainerd(ctx context.Context, dir, socket, ns string) {
	cfg := filepath.Join(dir, "config.toml")
	if containerdproc.Answers(socket) {
		pids := containerdPIDs("/proc", cfg)
		if len(pids) == 0 {
			rs.fail(fmt.Errorf("a containerd answers on %s but no containerd process runs with --config %s: stop it, then run reset again", socket, cfg))
			return
		}
		rs.say("Using the containerd skiffd started under %s, still running (PID %s)", dir, joinInts(pids))
		rs.removeContainers(ctx, socket, ns, false)
		for _, pid := range pids {
			stopPID(pid)
		}
		rs.say("Stopped containerd (PID %s)", joinInts(pids))
		rs.removed += len(pids)
	} else {
		rs.say("Starting the containerd skiffd started under %s, to remove its containers (it is stopped afterwards)", dir)
		p, err := containerdproc.Start(ctx, dir)
		if err != nil {
			rs.fail(fmt.Errorf("containers of the containerd under %s: %w", dir, err))
			return
		}
		rs.removeContainers(ctx, socket, ns, false)
		p.Stop()
	}
	if killed := nodeclean.KillShims(socket); len(killed) > 0 {
		rs.say("Killed %s left over (PID %s)", plural(len(killed), "containerd shim"), joinInts(killed))
		rs.removed += len(killed)
	}
}

// removeContainers removes every container of namespace ns in the
// containerd at socket and, with countImages, counts the images it keeps
// (those of skiffd's own containerd go with the data dir).
func (rs *resetRun) removeContainers(ctx context.Context, socket, ns string, countImages bool) {
	c, err := containerd.New(socket, containerd.WithTimeout(5*time.Second))
	if err != nil {
		rs.fail(fmt.Errorf("containerd %s: %w", socket, err))
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ids, err := nodeclean.RemoveContainers(ctx, c, ns, false)
	switch {
	case len(ids) > 0:
		rs.say("Removed %s and their tasks from containerd namespace %q (containerd %s): %s", plural(len(ids), "container"), ns, socket, strings.Join(ids, ", "))
		rs.removed += len(ids)
	case err == nil:
		rs.say("No containers left in containerd namespace %q (containerd %s)", ns, socket)
	}
	if err != nil {
		rs.fail(err)
	}
	if !countImages {
		return
	}
	if imgs, err := c.ImageService().List(namespaces.WithNamespace(ctx, ns)); err == nil && len(imgs) > 0 {
		if rs.images == nil {
			rs.images = map[string]int{}
		}
		rs.images[socket] = len(imgs)
	}
}

// containerdPIDs are the containerd processes run with --config cfg.
func containerdPIDs(procDir, cfg string) []int {
	var pids []int
	for _, p := range otherProcesses(procDir) {
		pid, args := p.pid, p.args
		if filepath.Base(args[0]) != "containerd" {
			continue
		}
		for i := 1; i+1 < len(args); i++ {
			if (args[i] == "--config" || args[i] == "-c") && args[i+1] == cfg {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// stopPID ends a process that is not our child: SIGTERM, then SIGKILL
// after 10 s.
func stopPID(pid int) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// network launches the node's network plugin and has it tear the node
// down, reporting the links and iptables chains that went.
func (rs *resetRun) network(ctx context.Context, host *pluginhost.Host, spec pluginhost.Spec) {
	if err := host.Start(ctx, []pluginhost.Spec{spec}); err != nil {
		rs.fail(fmt.Errorf("tear down the node network: %w", err))
		return
	}
	defer host.Stop()
	name := string(base.KindNetwork)
	if st := host.Status(); len(st) == 1 {
		name = st[0].Name
	}
	impl, err := host.Get(base.KindNetwork)
	if err != nil {
		rs.fail(fmt.Errorf("tear down the node network: %w", err))
		return
	}
	links, chains := hostLinks(), iptablesChains(ctx)
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = impl.(network.Network).TeardownNode(tctx)
	goneLinks, goneChains := minus(links, hostLinks()), minus(chains, iptablesChains(ctx))
	if len(goneLinks)+len(goneChains) > 0 {
		rs.say("Tore down the node network with network plugin %s:", name)
		if len(goneLinks) > 0 {
			rs.say("  removed links: %s", strings.Join(goneLinks, ", "))
		}
		if len(goneChains) > 0 {
			rs.say("  removed iptables chains (and the rules jumping to them): %s", strings.Join(goneChains, ", "))
		}
		rs.removed += len(goneLinks) + len(goneChains)
	} else if err == nil {
		rs.say("Network plugin %s tore down the node network: no links or iptables chains were left", name)
	}
	if err != nil {
		rs.fail(fmt.Errorf("network plugin %s: %w (its log: %s)", name, err, host.LogPath(base.KindNetwork)))
	}
}

// hostLinks are the network interfaces of this network namespace.
func hostLinks() []string {
	entries, _ := os.ReadDir("/sys/class/net")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// iptablesChains are the chains of the IPv4 filter and nat tables as
// "table/CHAIN", or nil when iptables-save cannot be run.
func iptablesChains(ctx context.Context) []string {
	var chains []string
	for _, table := range []string{"filter", "nat"} {
		out, err := exec.CommandContext(ctx, "iptables-save", "-t", table).Output()
		if err != nil {
			return nil
		}
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, ":") {
				if f := strings.Fields(line[1:]); len(f) > 0 {
					chains = append(chains, table+"/"+f[0])
				}
			}
		}
	}
	return chains
}

// minus is what of before is not in after.
func minus(before, after []string) []string {
	var out []string
	for _, s := range before {
		if !slices.Contains(after, s) {
			out = append(out, s)
		}
	}
	return out
}

// unmount detaches everything mounted under the data dir.
func (rs *resetRun) unmount() {
	dir := canonicalPath(rs.o.DataDir)
	// Not the data dir itself: when it is a volume of its own, its
	// contents are removed from that volume (removeDataDir).
	done, err := nodeclean.UnmountBelow(dir)
	if len(done) > 0 {
		rs.say("Unmounted %s under %s, deepest first:", plural(len(done), "mount"), rs.o.DataDir)
		for _, p := range done {
			rs.say("  %s", p)
		}
		rs.removed += len(done)
	} else if err == nil {
		rs.say("Nothing is mounted under %s", rs.o.DataDir)
	}
	if err != nil {
		rs.fail(err)
	}
}

// removeDataDir deletes the data dir, which held names, once nothing is
// mounted in it.
func (rs *resetRun) removeDataDir(names []string) error {
	dir := rs.o.DataDir
	left, err := nodeclean.MountsUnder(canonicalPath(dir))
	if err != nil {
		return err
	}
	if slices.Equal(left, []string{canonicalPath(dir)}) {
		// A volume of its own: empty it, leave the mount point.
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("remove the contents of %s: %w", dir, err)
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("remove %s: %w", filepath.Join(dir, e.Name()), err)
			}
		}
		rs.say("Emptied the data dir %s, a mount point of its own (left mounted): [%s]", dir, strings.Join(names, " "))
		rs.removed++
		return nil
	}
	if len(left) > 0 {
		return fmt.Errorf("not removing %s: still mounted under it: %s", dir, strings.Join(left, ", "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	rs.say("Deleted the data dir %s: [%s]", dir, strings.Join(names, " "))
	rs.removed++
	return nil
}

// trailer says what reset leaves to the user.
func (rs *resetRun) trailer() {
	for socket, n := range rs.images {
		rs.say("Kept %s in containerd namespace %q of containerd %s (reset does not remove images); list them with: ctr --address %s -n %s images ls",
			plural(n, "image"), rs.ns, socket, socket, rs.ns)
	}
	cfg, err := clientconfig.ResolvePath("")
	if err != nil {
		cfg = "~/.skiff/config"
	}
	fmt.Fprintf(rs.out, "\nThe reset process does not clean your client config files: %s may still hold the context %q of this cluster, whose credentials no longer work.\nPlease check it and remove that context yourself.\n",
		cfg, rs.o.ContextName)
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// plural is "1 thing" or "n things".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}
