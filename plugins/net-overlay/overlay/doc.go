// Package overlay is the logic of the skiff-net-overlay network plugin.
//
// # Design
//
// Every node has one Linux bridge (setting "bridge", default skiff0) that
// owns the first address of the node's PodCIDR: it is the pods' gateway.
// Each pod gets a network namespace, bind-mounted on a file under
// "netns_dir" so it outlives any process (the runtime joins every container
// of the pod to it), and a veth pair: the host end is a port of the bridge
// (in hairpin mode, see Services), the pod end is "eth0" in the pod's
// namespace with an address from the PodCIDR and a default route via the
// gateway. Nodes reach each other's pods over one VXLAN device per node,
// flannel's vxlan backend without its daemon; services are virtual IPs in
// iptables, kube-proxy's iptables mode without its daemon; and the plugin
// serves the node's pods cluster DNS itself.
//
//	  pod A netns            pod B netns
//	eth0 10.88.1.2         eth0 10.88.1.3
//	     │                      │
//	skv…(veth)             skv…(veth)
//	     └──────┬───────────────┘
//	 skiff0 bridge 10.88.1.1/24 (gateway, DNS :53)
//	            │  host routing, nat: SKIFF-SVCS-skiff0 (service VIPs)
//	            ├── 10.88.2.0/24 via 10.88.2.0 onlink ── skiff.1 (VXLAN, 10.88.1.0/32)
//	            │                                          │ UDP 8472, VNI 1
//	            └── anything else ─ MASQUERADE ─ eth0 (NodeIP) ◀┘
//
// Traffic from a pod to the outside world is masqueraded to the node's
// address by a nat chain of our own, SKIFF-MASQ-<bridge>, jumped to from
// POSTROUTING; traffic that stays inside ClusterCIDR keeps the pod's
// address. A filter chain SKIFF-FWD-<bridge>, jumped to from FORWARD,
// accepts forwarded ClusterCIDR traffic so a host whose FORWARD policy is
// DROP (Docker sets one) still forwards pod traffic. Chains are named after
// the bridge so two instances on one host (a test and a running node) never
// touch each other's rules.
//
// # Addresses
//
// Addresses come from a host-local allocator (package ipam) that keeps one
// file per reserved address under <DataDir>/ipam/<PodCIDR>/: reservations
// survive restarts, and the network, gateway and broadcast addresses are
// never handed out. A pod is keyed by its UID everywhere: the netns file is
// <netns_dir>/<uid>, the address owner is the UID, the host veth name is a
// hash of bridge and UID (so teardown finds it even without state), and the
// pod's record is <DataDir>/pods/<uid>.json. That record is what PodStatus
// and ListPods read, so both work after a restart of the plugin.
//
// # Overlay (vxlan.go)
//
// With a NodeIP that is neither empty nor loopback, SetupNode makes one
// VXLAN device (setting "vxlan_device", default skiff.1; VNI 1 and UDP
// port 8472 by default, the same on every node) with local = NodeIP on the
// link that holds NodeIP, learning off, and the PodCIDR's network address
// (10.88.1.0/32) as its VTEP address. Its MAC is derived from the node name,
// so it survives the device being made anew; NodeStatus.VTEPMAC reports it
// and the core publishes it on the Node, as flannel does in its
// backend-data annotation. For every peer SetPeers lists, the device gets,
// in this order:
//
//   - an FDB entry "peer VTEP MAC → peer NodeIP" (where to send frames),
//   - a permanent neighbour entry "peer VTEP IP (10.88.2.0) → peer VTEP
//     MAC" (so no ARP crosses the overlay),
//   - a route "peer PodCIDR via peer VTEP IP dev skiff.1 onlink".
//
// Nothing waits for the kernel's L2/L3 miss notifications: a peer is
// reachable when SetPeers returns. SetPeers is full state: the device is
// ours alone, so every route, neighbour and FDB entry on it that is not for
// a listed peer is deleted. Pods are not touched: they only know their
// gateway. The last peer set is recorded (<DataDir>/peers.json) and
// programmed again by SetupNode, so a device made anew is whole again.
//
// MTU: VXLAN over IPv4 adds 50 bytes. The device gets the underlay's MTU
// (NodeConfig.MTU, or the MTU of the link that holds NodeIP) less 50, and
// so do the bridge and the pods, unless the "mtu" setting says otherwise.
// A node without overlay gives its pods 1500 (or "mtu").
//
// # Services (services.go)
//
// SetServices writes kube-proxy's iptables-mode chains: nat PREROUTING and
// OUTPUT jump to SKIFF-SVCS-<bridge>, which sends each ClusterIP:port to a
// SKIFF-SVC-<hash> chain; that one picks an endpoint with "-m statistic
// --mode random --probability 1/(n-i)" and jumps to a SKIFF-SEP-<hash>
// chain that DNATs to the endpoint. Ports without endpoints are REJECTed
// from SKIFF-NOEP-<bridge> (filter; OUTPUT, and first thing in
// SKIFF-FWD-<bridge>), so a client is refused at once instead of sending
// to an address nobody owns. Two kinds of connection are marked (0x4000)
// and masqueraded in SKIFF-MASQ-<bridge>: from outside the pod network
// (the node itself), so replies come back through this node, and hairpin
// connections, a pod reaching itself through its service. Hairpin needs
// the bridge port in hairpin mode (the frame leaves by the port it came
// in by) and pod-to-pod DNAT on one bridge needs bridge netfilter
// (net.bridge.bridge-nf-call-iptables, per namespace), which SetupNode
// turns on; on a kernel without it, connections from this node's pods to
// this node's endpoints are masqueraded instead.
//
// The whole set is written in one iptables-restore --noflush per table:
// declaring a chain flushes it, so each call rewrites SVCS, NOEP and every
// SVC and SEP chain, and flushes and deletes the SVC and SEP chains no
// longer needed. Those carry a 4-character tag derived from the bridge
// after their prefix, which is how an instance finds its own stale chains.
// A removed endpoint leaves the rotation for new connections at once; UDP
// conntrack entries towards it are deleted too, since a UDP "connection"
// never ends by itself. The last set is recorded (<DataDir>/services.json)
// and programmed again by SetupNode.
//
// # DNS (dns.go)
//
// Each node serves its pods on the gateway address, UDP and TCP port 53
// (NodeStatus.DNSIP), with miekg/dns: A records for S.NS.svc.<domain>.
// (the ClusterIP; a headless service's endpoint addresses), NXDOMAIN for
// other names in the cluster domain, and names outside it forwarded to the
// upstream resolvers (setting "dns_upstream", default /etc/resolv.conf's
// nameservers; "none" refuses them). The core writes the pods' resolv.conf
// ("nameserver <DNSIP>", the search path, "options ndots:5"), so S, S.NS
// and S.NS.svc resolve through the search path. The zone is swapped
// atomically by SetServices; queries never wait for the plugin's lock.
//
// # A node in a namespace (hostns.go)
//
// With the setting "netns" (a network namespace file), the plugin does all
// its host-side work inside that namespace: the node's "host" is then a
// namespace of the machine, so one process can be one of several nodes
// (skiffctl cluster create, the conformance suite). Each call that touches
// the host runs on an OS thread of its own that joins the namespace and is
// thrown away afterwards; netlink calls, iptables commands and the DNS
// server's sockets all inherit it. DNS forwarding leaves from the
// plugin's own namespace, so outside names resolve as on the machine.
//
// # Failure and idempotency
//
// SetupPod first looks for a healthy record (netns file still mounted, host
// veth still there) and returns it. Otherwise it builds the pod from
// scratch and, on any error, tears down whatever it made (the CNI bridge
// plugin's "success flag plus deferred teardown"). TeardownPod does every
// step even when an earlier one fails and keeps the record until all steps
// succeeded, so a retry finishes the job. SetupNode reconciles: bridge,
// address, forwarding, VXLAN device and chains are made or corrected, never
// duplicated. SetPeers and SetServices converge to the set they are given.
// TeardownNode removes pods, bridge, VXLAN device, every chain and the DNS
// server, and forgets the records.
//
// # Concurrency
//
// One mutex serialises every call of an Overlay: pod setup takes a few
// milliseconds and the agent calls it per pod, so there is little to gain
// from finer locks yet. The allocator also holds a file lock, so tools
// sharing the data directory cannot race it.
package overlay
