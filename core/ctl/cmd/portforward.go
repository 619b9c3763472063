package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
)

const portForwardUsage = "TYPE/NAME and list of ports are required for port-forward"

// PortForwardOptions are the options of `skiffctl port-forward`.
type PortForwardOptions struct {
	IOStreams
	f Factory

	Address []string

	pod       string
	namespace string
	specs     []portSpec
	addresses []listenAddress

	// ready, when set, is closed once every listener is open (tests).
	ready chan struct{}
}

// portSpec is one [LOCAL:]REMOTE argument before the pod is known: the
// remote side may still be a named container port.
type portSpec struct {
	local  uint16 // 0: pick a free port
	remote string // a number or a port name
	// sameLocal: a lone named port, forwarded from the local port of the
	// same number.
	sameLocal bool
}

// forwardedPort is a local port and the pod port it forwards to.
type forwardedPort struct {
	local, remote uint16
}

// listenAddress is an address to listen on. failAll: it comes from
// "localhost", where listening on one of 127.0.0.1 and ::1 is enough.
type listenAddress struct {
	ip      string
	network string // tcp4 or tcp6
	failAll bool
}

// NewCmdPortForward returns `skiffctl port-forward`.
func NewCmdPortForward(f Factory, streams IOStreams) *cobra.Command {
	o := &PortForwardOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:                   "port-forward TYPE/NAME [options] [LOCAL_PORT:]REMOTE_PORT [...[LOCAL_PORT_N:]REMOTE_PORT_N]",
		DisableFlagsInUseLine: true,
		Short:                 "Forward one or more local ports to a pod",
		Long: `Forward one or more local ports to a pod.

Use resource type/name such as pod/mypod to select a pod.

If there are multiple pods matching the criteria, a pod will be selected automatically. The forwarding session ends when the selected pod terminates, and a rerun of the command is needed to resume forwarding.`,
		Example: `  # Listen on ports 5000 and 6000 locally, forwarding data to/from ports 5000 and 6000 in the pod
  skiffctl port-forward pod/mypod 5000 6000

  # Listen on port 8888 locally, forwarding to 5000 in the pod
  skiffctl port-forward pod/mypod 8888:5000

  # Listen on port 8888 on all addresses, forwarding to 5000 in the pod
  skiffctl port-forward --address 0.0.0.0 pod/mypod 8888:5000

  # Listen on port 8888 on localhost and selected IP, forwarding to 5000 in the pod
  skiffctl port-forward --address localhost,10.19.21.23 pod/mypod 8888:5000

  # Listen on a random port locally, forwarding to 5000 in the pod
  skiffctl port-forward pod/mypod :5000`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringSliceVar(&o.Address, "address", []string{"localhost"}, "Addresses to listen on (comma separated). Only accepts IP addresses or localhost as a value. When localhost is supplied, skiffctl will try to bind on both 127.0.0.1 and ::1 and will fail if neither of these addresses are available to bind.")
	return cmd
}

// Complete reads the pod and the ports.
func (o *PortForwardOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) < 2 {
		return usageErrorf(cmd.CommandPath(), "%s", portForwardUsage)
	}
	pod, err := podNameArg(args[0], "forward ports of")
	if err != nil {
		return err
	}
	o.pod = pod
	o.namespace, _ = o.f.Namespace()
	o.specs = nil
	for _, arg := range args[1:] {
		spec, err := parsePortSpec(arg)
		if err != nil {
			return err
		}
		o.specs = append(o.specs, spec)
	}
	o.addresses, err = parseAddresses(o.Address)
	return err
}

// parsePortSpec reads [LOCAL:]REMOTE as kubectl does: ":REMOTE" picks a
// free local port, a lone REMOTE uses the same local port; REMOTE may be a
// container port's name.
func parsePortSpec(arg string) (portSpec, error) {
	parts := strings.Split(arg, ":")
	var local, remote string
	switch len(parts) {
	case 1:
		local, remote = parts[0], parts[0]
	case 2:
		local, remote = parts[0], parts[1]
		if local == "" {
			local = "0" // :REMOTE
		}
	default:
		return portSpec{}, fmt.Errorf("invalid port format '%s'", arg)
	}
	if remote == "" {
		return portSpec{}, fmt.Errorf("invalid port format '%s'", arg)
	}
	spec := portSpec{remote: remote}
	if isDigits(remote) {
		n, err := strconv.ParseUint(remote, 10, 16)
		if err != nil {
			return portSpec{}, fmt.Errorf("error parsing remote port '%s': %s", remote, err)
		}
		if n == 0 {
			return portSpec{}, fmt.Errorf("remote port must be > 0")
		}
	} else if len(parts) == 1 {
		spec.sameLocal = true
		return spec, nil
	}
	n, err := strconv.ParseUint(local, 10, 16)
	if err != nil {
		return portSpec{}, fmt.Errorf("error parsing local port '%s': %s", local, err)
	}
	spec.local = uint16(n)
	return spec, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// resolve turns the spec into ports, looking a named remote port up in
// the pod's containers as kubectl does.
func (s portSpec) resolve(pod *corev1.Pod) (forwardedPort, error) {
	if isDigits(s.remote) {
		n, _ := strconv.ParseUint(s.remote, 10, 16)
		return forwardedPort{local: s.local, remote: uint16(n)}, nil
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == s.remote {
				fp := forwardedPort{local: s.local, remote: uint16(p.ContainerPort)}
				if s.sameLocal {
					fp.local = fp.remote
				}
				return fp, nil
			}
		}
	}
	//lint:ignore ST1005 kubectl's exact wording
	return forwardedPort{}, fmt.Errorf("Pod '%s' does not have a named port '%s'", pod.Name, s.remote)
}

// parseAddresses reads --address: IPs, and "localhost" for both 127.0.0.1
// and ::1, deduplicated and sorted as kubectl does.
func parseAddresses(in []string) ([]listenAddress, error) {
	parsed := map[string]listenAddress{}
	for _, a := range in {
		a = strings.TrimSpace(a)
		switch ip := net.ParseIP(a); {
		case a == "localhost":
			if _, ok := parsed["127.0.0.1"]; !ok {
				parsed["127.0.0.1"] = listenAddress{ip: "127.0.0.1", network: "tcp4", failAll: true}
			}
			if _, ok := parsed["::1"]; !ok {
				parsed["::1"] = listenAddress{ip: "::1", network: "tcp6", failAll: true}
			}
		case ip == nil:
			return nil, fmt.Errorf("%s is not a valid IP", a)
		case ip.To4() != nil:
			parsed[a] = listenAddress{ip: a, network: "tcp4"}
		default:
			parsed[a] = listenAddress{ip: a, network: "tcp6"}
		}
	}
	out := make([]listenAddress, 0, len(parsed))
	for _, a := range parsed {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ip < out[j].ip })
	return out, nil
}

// Validate checks that there is a pod, a port and an address.
func (o *PortForwardOptions) Validate() error {
	if o.pod == "" {
		return fmt.Errorf("pod name or resource type/name must be specified")
	}
	if len(o.specs) < 1 {
		return fmt.Errorf("at least 1 PORT is required for port-forward")
	}
	if len(o.addresses) == 0 {
		return fmt.Errorf("at least one --address is required")
	}
	return nil
}

// Run listens on the local ports and forwards every connection, each over
// its own PortForward call, until ctx ends (SIGINT).
func (o *PortForwardOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	var pod corev1.Pod
	if err := c.Get(ctx, api.Pods, o.namespace, o.pod, &pod); err != nil {
		return err
	}
	ports := make([]forwardedPort, 0, len(o.specs))
	for _, s := range o.specs {
		fp, err := s.resolve(&pod)
		if err != nil {
			return err
		}
		ports = append(ports, fp)
	}
	if pod.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("unable to forward port because pod is not running. Current status=%v", pod.Status.Phase)
	}
	f := &forwarder{o: o, api: c.API, out: &lockedWriter{w: o.Out}, errOut: &lockedWriter{w: o.ErrOut}}
	return f.run(ctx, ports)
}

// forwarder serves the listeners of one port-forward.
type forwarder struct {
	o           *PortForwardOptions
	api         apipb.SkiffClient
	out, errOut io.Writer
	wg          sync.WaitGroup
}

// boundListener is a listener and the port it forwards.
type boundListener struct {
	net.Listener
	port forwardedPort
}

func (f *forwarder) run(ctx context.Context, ports []forwardedPort) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var listeners []boundListener
	defer func() {
		cancel() // ends the forwarded connections
		for _, l := range listeners {
			l.Close()
		}
		f.wg.Wait()
	}()
	for i := range ports {
		ls, err := f.listen(&ports[i])
		if err != nil {
			fmt.Fprintf(f.errOut, "Unable to listen on port %d: %v\n", ports[i].local, err)
			continue
		}
		listeners = append(listeners, ls...)
	}
	if len(listeners) == 0 {
		return fmt.Errorf("unable to listen on any of the requested ports: %v", portList(ports))
	}
	for _, l := range listeners {
		f.wg.Add(1)
		go f.accept(ctx, l)
	}
	if f.o.ready != nil {
		close(f.o.ready)
	}
	<-ctx.Done()
	return nil
}

// portList prints ports as kubectl's message does: [{8080 80} {0 81}].
func portList(ports []forwardedPort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		parts[i] = fmt.Sprintf("{%d %d}", p.local, p.remote)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// listen opens the port on every address. With a local port of 0 the
// first listener picks one and the others use it too. Addresses from
// "localhost" may fail as long as one works; explicit ones may not.
func (f *forwarder) listen(port *forwardedPort) ([]boundListener, error) {
	var ls []boundListener
	var errs []string
	okAll, failAll, failAny := 0, 0, 0
	for _, a := range f.o.addresses {
		l, err := net.Listen(a.network, net.JoinHostPort(a.ip, strconv.Itoa(int(port.local))))
		if err != nil {
			errs = append(errs, fmt.Sprintf("unable to create listener: Error %s", err))
			if a.failAll {
				failAll++
			} else {
				failAny++
			}
			continue
		}
		if a.failAll {
			okAll++
		}
		if port.local == 0 {
			_, p, _ := net.SplitHostPort(l.Addr().String())
			n, _ := strconv.ParseUint(p, 10, 16)
			port.local = uint16(n)
		}
		fmt.Fprintf(f.out, "Forwarding from %s -> %d\n", net.JoinHostPort(a.ip, strconv.Itoa(int(port.local))), port.remote)
		ls = append(ls, boundListener{Listener: l, port: *port})
	}
	if (okAll == 0 && failAll > 0) || failAny > 0 {
		for _, l := range ls {
			l.Close()
		}
		//lint:ignore ST1005 kubectl's exact wording
		return nil, fmt.Errorf("Listeners failed to create with the following errors: [%s]", strings.Join(errs, " "))
	}
	return ls, nil
}

func (f *forwarder) accept(ctx context.Context, l boundListener) {
	defer f.wg.Done()
	for {
		conn, err := l.Accept()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(f.errOut, "error: accepting connections on port %d: %v\n", l.port.local, err)
			}
			return
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.handle(ctx, conn, l.port)
		}()
	}
}

// handle forwards one connection over its own PortForward call: what the
// local side sends goes up, its EOF half-closes the pod's end; what the
// pod's end sends comes down, its half-close half-closes the local side;
// the connection is closed when the call ends.
func (f *forwarder) handle(ctx context.Context, conn net.Conn, port forwardedPort) {
	defer conn.Close()
	fmt.Fprintf(f.out, "Handling connection for %d\n", port.local)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) {
		if ctx.Err() == nil {
			fmt.Fprintf(f.errOut, "error: an error occurred forwarding %d -> %d: %v\n", port.local, port.remote, api.FromGRPC(err))
		}
	}
	call, err := f.api.PortForward(ctx)
	if err != nil {
		fail(err)
		return
	}
	start := &apipb.PortForwardRequest{Msg: &apipb.PortForwardRequest_Start{Start: &apipb.PortForwardStart{
		Namespace: f.o.namespace, Pod: f.o.pod, Port: int32(port.remote),
	}}}
	if err := call.Send(start); err != nil && !errors.Is(err, io.EOF) {
		fail(err)
		return
	}
	go func() {
		buf := make([]byte, execChunk)
		for {
			n, err := conn.Read(buf)
			if n > 0 {
				if serr := call.Send(&apipb.PortForwardRequest{Msg: &apipb.PortForwardRequest_Data{Data: buf[:n]}}); serr != nil {
					return // the call ended: Recv reports why
				}
			}
			if errors.Is(err, io.EOF) {
				_ = call.CloseSend()
				return
			}
			if err != nil {
				cancel() // the local side broke (or was closed): end the call
				return
			}
		}
	}()
	for {
		resp, err := call.Recv()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			fail(err)
			return
		}
		switch m := resp.Msg.(type) {
		case *apipb.PortForwardResponse_Data:
			if _, err := conn.Write(m.Data); err != nil {
				return // the local side is gone; the deferred cancel ends the call
			}
		case *apipb.PortForwardResponse_CloseWrite:
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
		}
	}
}

// lockedWriter serializes writes from the connections' goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
