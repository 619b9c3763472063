package overlay

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/skiffhq/skiff/sdk/network"
)

// nodeState is <DataDir>/node.json: the NodeConfig last set up and what was
// made for it.
type nodeState struct {
	NodeName    string `json:"nodeName"`
	PodCIDR     string `json:"podCIDR"`
	ClusterCIDR string `json:"clusterCIDR"`
	NodeIP      string `json:"nodeIP,omitempty"`
	Bridge      string `json:"bridge"`
	GatewayIP   string `json:"gatewayIP"`
	MTU         int    `json:"mtu"`
	// ClusterDomain is the DNS zone, without the trailing dot.
	ClusterDomain string `json:"clusterDomain"`
	// VXLAN is the VXLAN device's name, "" when the node has no overlay.
	VXLAN   string `json:"vxlan,omitempty"`
	VTEPMAC string `json:"vtepMAC,omitempty"`
	DNSIP   string `json:"dnsIP,omitempty"`
	// LocalMasq: the kernel has no bridge netfilter, so service traffic
	// between pods of this node is masqueraded.
	LocalMasq bool `json:"localMasq,omitempty"`
}

func (n *nodeState) status() network.NodeStatus {
	return network.NodeStatus{Bridge: n.Bridge, GatewayIP: n.GatewayIP, MTU: n.MTU, VTEPMAC: n.VTEPMAC, DNSIP: n.DNSIP}
}

// loadServices returns the services last accepted by SetServices.
func loadServices(c *config) ([]network.Service, error) {
	var s []network.Service
	if _, err := readJSON(c.servicesFile(), &s); err != nil {
		return nil, err
	}
	return s, nil
}

// loadPeers returns the peers last accepted by SetPeers.
func loadPeers(c *config) ([]network.Peer, error) {
	var p []network.Peer
	if _, err := readJSON(c.peersFile(), &p); err != nil {
		return nil, err
	}
	return p, nil
}

// podState is <DataDir>/pods/<uid>.json: one pod's network.
type podState struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	NetNSPath string `json:"netnsPath"`
	Interface string `json:"interface"`
	IP        string `json:"ip"`
	// PodCIDR is the subnet IP came from, so teardown releases it from the
	// right allocator even after the node's PodCIDR changed.
	PodCIDR  string `json:"podCIDR"`
	HostVeth string `json:"hostVeth"`
}

func (p *podState) network() network.PodNetwork {
	return network.PodNetwork{
		PodRef:    network.PodRef{Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		NetNSPath: p.NetNSPath,
		IPs:       []string{p.IP},
		Interface: p.Interface,
	}
}

func loadNode(path string) (*nodeState, error) {
	var n nodeState
	ok, err := readJSON(path, &n)
	if err != nil || !ok {
		return nil, err
	}
	return &n, nil
}

func podFile(c *config, uid string) string {
	return filepath.Join(c.podsDir(), uid+".json")
}

// loadPod returns the pod's record, or nil if there is none.
func loadPod(c *config, uid string) (*podState, error) {
	var p podState
	ok, err := readJSON(podFile(c, uid), &p)
	if err != nil || !ok {
		return nil, err
	}
	return &p, nil
}

// loadPods returns every pod record, sorted by namespace, name and UID.
func loadPods(c *config) ([]*podState, error) {
	entries, err := os.ReadDir(c.podsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pod records: %w", err)
	}
	var pods []*podState
	for _, e := range entries {
		uid, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() || checkUID(uid) != nil {
			continue
		}
		p, err := loadPod(c, uid)
		if err != nil {
			return nil, err
		}
		if p != nil {
			pods = append(pods, p)
		}
	}
	sort.Slice(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.UID < b.UID
	})
	return pods, nil
}

// readJSON decodes path into v; false if the file does not exist.
func readJSON(path string, v any) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// writeJSON replaces path atomically: a reader sees the old or the new
// content, never a torn file.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func removeFile(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
