// Package overlay is the logic of the skiff-net-overlay network plugin.
//
// # Design
//
// Every node has one Linux bridge (setting "bridge", default skiff0) that
// owns the first address of the node's PodCIDR: it is the pods' gateway.
// Each pod gets a network namespace, bind-mounted on a file under
// "netns_dir" so it outlives any process (the runtime joins every container
// of the pod to it), and a veth pair: the host end is a port of the bridge,
// the pod end is "eth0" in the pod's namespace with an address from the
// PodCIDR and a default route via the gateway.
//
//	  pod A netns            pod B netns
//	eth0 10.88.1.2         eth0 10.88.1.3
//	     │                      │
//	skv…(veth)             skv…(veth)
//	     └──────┬───────────────┘
//	 skiff0 bridge 10.88.1.1/24 ── host routing ── eth0 (NodeIP)
//	                                  │ MASQUERADE (SKIFF-MASQ-<bridge>)
//	                                  ▼ to anything outside ClusterCIDR
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
// # Failure and idempotency
//
// SetupPod first looks for a healthy record (netns file still mounted, host
// veth still there) and returns it. Otherwise it builds the pod from
// scratch and, on any error, tears down whatever it made (the CNI bridge
// plugin's "success flag plus deferred teardown"). TeardownPod does every
// step even when an earlier one fails and keeps the record until all steps
// succeeded, so a retry finishes the job. SetupNode reconciles: bridge,
// address, forwarding and chains are made or corrected, never duplicated.
//
// # Towards VXLAN (not built yet)
//
// Multi-node traffic will ride a single VXLAN device per node, in the style
// of flannel's vxlan backend, without multicast and without learning:
//
//   - the device (e.g. "skiff.vx", VNI 1, UDP 8472, local NodeIP) gets the
//     node's gateway address as a /32 and an MTU 50 bytes below the
//     underlay's, which is why pods take "mtu" from the settings;
//   - for each peer node the core reports (a later revision of the contract
//     adds the peer list to NodeConfig or a SetPeers call), the plugin
//     installs three things: a route "peer PodCIDR via peer gateway dev
//     skiff.vx onlink", a permanent neighbour entry "peer gateway → peer
//     VTEP MAC" and an FDB entry "peer VTEP MAC → peer NodeIP";
//   - removing a peer removes the three entries; pods are not touched.
//
// Nothing in pod setup depends on the overlay: a pod only knows its gateway,
// so peers can come and go without touching pods.
//
// # Concurrency
//
// One mutex serialises every call of an Overlay: pod setup takes a few
// milliseconds and the agent calls it per pod, so there is little to gain
// from finer locks yet. The allocator also holds a file lock, so tools
// sharing the data directory cannot race it.
package overlay
