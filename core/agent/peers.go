package agent

// Overlay peers.
//
// After SetupNode the agent publishes the node's VTEP MAC (NodeStatus.VTEPMAC)
// as the Node annotation AnnotationVTEPMAC, as flannel publishes its backend
// data. It watches every Node and hands the network plugin the complete set
// of the other nodes (InternalIP, spec.podCIDR, VTEP MAC) through SetPeers
// whenever that set changes, and again after every SetupNode (agent start,
// network plugin restart): SetPeers is full state, so a lost call is
// repaired by the next one.

import (
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/sdk/network"
)

// AnnotationVTEPMAC is the Node annotation holding the MAC address of the
// node's overlay endpoint.
const AnnotationVTEPMAC = "skiff.dev/vtep-mac"

// peerSet is the agent's view of the other nodes.
type peerSet struct {
	mu      sync.Mutex
	peers   map[string]network.Peer // by node name
	applied []network.Peer          // last set SetPeers accepted; nil: none yet
	ready   bool                    // SetupNode has run
	listed  bool                    // peers holds a full listing of the Nodes
	vtepMAC string                  // this node's, from the last SetupNode
	watch   sync.Once
}

// publishVTEP writes the node's VTEP MAC annotation (removing it when the
// node has no overlay).
func (a *Agent) publishVTEP(ctx context.Context, mac string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var node corev1.Node
		if err := a.cfg.Client.Get(ctx, api.Nodes, "", a.cfg.NodeName, &node); err != nil {
			return err
		}
		if node.Annotations[AnnotationVTEPMAC] == mac {
			return nil
		}
		if mac == "" {
			delete(node.Annotations, AnnotationVTEPMAC)
		} else {
			if node.Annotations == nil {
				node.Annotations = map[string]string{}
			}
			node.Annotations[AnnotationVTEPMAC] = mac
		}
		return a.cfg.Client.Update(ctx, api.Nodes, "", &node, "")
	})
}

// peerOf is the node as a peer, or false when it is this node.
func (a *Agent) peerOf(n *corev1.Node) (network.Peer, bool) {
	if n.Name == a.cfg.NodeName {
		return network.Peer{}, false
	}
	p := network.Peer{NodeName: n.Name, PodCIDR: n.Spec.PodCIDR, VTEPMAC: n.Annotations[AnnotationVTEPMAC]}
	for _, addr := range n.Status.Addresses {
		if addr.Type == corev1.NodeInternalIP {
			p.NodeIP = addr.Address
			break
		}
	}
	return p, true
}

// peerList is the complete set of peers that are set up (node IP, pod
// subnet and VTEP MAC known), sorted by name.
func (s *peerSet) list() []network.Peer {
	out := make([]network.Peer, 0, len(s.peers))
	for _, p := range s.peers {
		if p.NodeIP == "" || p.PodCIDR == "" || p.VTEPMAC == "" {
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeName < out[j].NodeName })
	return out
}

// applyPeers hands the plugin the current set when it differs from the
// last one applied, or always when force is set (after SetupNode).
func (a *Agent) applyPeers(ctx context.Context, force bool) {
	s := &a.peerSet
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ready || !s.listed {
		return // an empty or partial set would remove peers the plugin has
	}
	want := s.list()
	if !force && s.applied != nil && reflect.DeepEqual(want, s.applied) {
		return
	}
	if s.vtepMAC == "" && len(want) > 0 {
		// A node without overlay (loopback node IP) cannot reach peers.
		if s.applied == nil {
			a.log.Warn("node has no overlay; pods of other nodes are unreachable", "peers", len(want))
			s.applied = []network.Peer{}
		}
		return
	}
	net, err := a.network()
	if err == nil {
		err = net.SetPeers(ctx, want)
	}
	if err != nil {
		if ctx.Err() == nil {
			a.log.Error("set overlay peers", "peers", len(want), "error", err)
		}
		s.applied = nil // retried on the next change or resync
		return
	}
	s.applied = want
}

// networkReady is called after every SetupNode: it publishes the VTEP MAC,
// re-applies the peers and, the first time, starts watching the Nodes.
// runCtx is the agent's context (the watch lives as long as the agent).
func (a *Agent) networkReady(ctx, runCtx context.Context, st network.NodeStatus) {
	a.peerSet.mu.Lock()
	a.peerSet.vtepMAC = st.VTEPMAC
	a.peerSet.ready = true
	a.peerSet.mu.Unlock()
	a.peerSet.watch.Do(func() { go a.watchPeers(runCtx) })
	if err := a.publishVTEP(ctx, st.VTEPMAC); err != nil && ctx.Err() == nil {
		a.log.Error("publish VTEP MAC", "annotation", AnnotationVTEPMAC, "error", err)
	}
	a.applyPeers(ctx, true)
}

// watchPeers keeps the peer set in step with the Nodes until ctx ends. It
// also re-applies the set every resync period, which repairs a SetPeers
// that failed.
func (a *Agent) watchPeers(ctx context.Context) {
	resync := time.NewTicker(30 * time.Second)
	defer resync.Stop()
	for ctx.Err() == nil {
		// List, then watch from the list's revision: the set is complete
		// before it is first applied.
		nodes, rev, err := client.List[corev1.Node](ctx, a.cfg.Client, api.Nodes, "", client.ListOptions{})
		var events <-chan client.Event
		var errc <-chan error
		if err == nil {
			peers := map[string]network.Peer{}
			for i := range nodes {
				if p, other := a.peerOf(&nodes[i]); other {
					peers[p.NodeName] = p
				}
			}
			a.peerSet.mu.Lock()
			a.peerSet.peers, a.peerSet.listed = peers, true
			a.peerSet.mu.Unlock()
			a.applyPeers(ctx, false)
			events, errc, err = a.cfg.Client.Watch(ctx, api.Nodes, "", client.ListOptions{}, rev)
		}
		if err == nil {
		loop:
			for {
				select {
				case ev, ok := <-events:
					if !ok {
						break loop
					}
					var n corev1.Node
					if json.Unmarshal(ev.Object, &n) != nil {
						continue
					}
					p, other := a.peerOf(&n)
					if !other {
						continue
					}
					a.peerSet.mu.Lock()
					if ev.Type == "DELETED" {
						delete(a.peerSet.peers, n.Name)
					} else {
						a.peerSet.peers[n.Name] = p
					}
					a.peerSet.mu.Unlock()
					if len(events) == 0 { // once per burst of events
						a.applyPeers(ctx, false)
					}
				case <-resync.C:
					a.applyPeers(ctx, true)
				}
			}
			err = <-errc
		}
		if ctx.Err() != nil {
			return
		}
		a.log.Warn("watch nodes for overlay peers ended; re-listing", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}
