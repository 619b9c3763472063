package cmd

import (
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func describedPod() *corev1.Pod {
	start := ago(10 * time.Minute)
	p := pod("nginx-1", 10*time.Minute, corev1.PodPending)
	p.UID = "uid-nginx-1"
	p.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "web"}
	p.Spec.NodeName = "skiff-worker"
	p.Spec.Containers[0] = corev1.Container{
		Name: "nginx-1", Image: "nginx-1",
		Ports:   []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
		Command: []string{"nginx"}, Args: []string{"-g", "daemon off;"},
		Env:          []corev1.EnvVar{{Name: "MODE", Value: "prod"}},
		Resources:    corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}},
		VolumeMounts: []corev1.VolumeMount{{Name: "html", MountPath: "/usr/share/nginx/html", ReadOnly: true}},
	}
	p.Spec.Volumes = []corev1.Volume{{Name: "html", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	p.Status = corev1.PodStatus{
		Phase: corev1.PodPending, HostIP: "10.0.0.2", PodIP: "10.1.0.7", PodIPs: []corev1.PodIP{{IP: "10.1.0.7"}},
		StartTime: &start,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionFalse},
		},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "nginx-1", Image: "nginx-1",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}},
		}},
	}
	return p
}

func TestDescribePod(t *testing.T) {
	e := newEnv(t)
	e.srv.Put("pods", describedPod())
	e.srv.Put("events", &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "nginx-1.a", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "nginx-1", Namespace: "default", UID: "uid-nginx-1"},
		Type:           "Normal", Reason: "Scheduled", Message: "Successfully assigned default/nginx-1 to skiff-worker",
		Source:         corev1.EventSource{Component: "default-scheduler"},
		FirstTimestamp: ago(10 * time.Minute), LastTimestamp: ago(10 * time.Minute), Count: 1,
	})
	e.srv.Put("events", &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "nginx-1.b", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "nginx-1", Namespace: "default", FieldPath: "spec.containers{nginx-1}"},
		Type:           "Warning", Reason: "Failed", Message: `Failed to pull image "nginx-1": not found`,
		Source:         corev1.EventSource{Component: "kubelet"},
		FirstTimestamp: ago(163 * time.Second), LastTimestamp: ago(60 * time.Second), Count: 4,
	})
	e.srv.Put("events", &corev1.Event{ // another pod's event stays out
		ObjectMeta:     metav1.ObjectMeta{Name: "other.a", Namespace: "default"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "other", Namespace: "default"},
		Type:           "Normal", Reason: "Pulled", LastTimestamp: ago(time.Second),
	})
	// Alignment follows tabwriter blocks exactly as kubectl's describe does:
	// a line without a tab ("IPs:", "Containers:") ends a block.
	want := `Name:         nginx-1
Namespace:    default
Node:         skiff-worker/10.0.0.2
Start Time:   Sat, 01 Mar 2025 09:50:00 +0000
Labels:       run=nginx-1
Annotations:  team: web
Status:       Pending
IP:           10.1.0.7
IPs:
  IP:  10.1.0.7
Containers:
  nginx-1:
    Container ID:  
    Image:         nginx-1
    Image ID:      
    Port:          80/TCP
    Host Port:     0/TCP
    Command:
      nginx
    Args:
      -g
      daemon off;
    State:          Waiting
      Reason:       ImagePullBackOff
    Ready:          False
    Restart Count:  0
    Limits:
      memory:  128Mi
    Environment:
      MODE:  prod
    Mounts:
      /usr/share/nginx/html from html (ro)
Conditions:
  Type          Status
  Initialized   True 
  Ready         False 
Volumes:
  html:
    Type:        EmptyDir (a temporary directory that shares a pod's lifetime)
    Medium:      
    SizeLimit:   <unset>
QoS Class:       Burstable
Node-Selectors:  <none>
Tolerations:     <none>
Events:
  Type     Reason     Age                  From               Message
  ----     ------     ----                 ----               -------
  Normal   Scheduled  10m                  default-scheduler  Successfully assigned default/nginx-1 to skiff-worker
  Warning  Failed     60s (x4 over 2m43s)  kubelet            spec.containers{nginx-1}: Failed to pull image "nginx-1": not found
`
	e.run("describe", "pod", "nginx-1").expectOut(t, want)
	// A prefix finds the pod too, as in kubectl.
	if r := e.run("describe", "pods", "nginx"); r.err != nil || !strings.HasPrefix(r.out, "Name:         nginx-1\n") {
		t.Errorf("prefix describe: %+v", r)
	}
}

func TestDescribeNotFound(t *testing.T) {
	e := newEnv(t)
	r := e.run("describe", "pod", "ghost")
	if r.printed != "Error from server (NotFound): pods \"ghost\" not found\n" {
		t.Errorf("printed %q", r.printed)
	}
	r = e.run("describe", "events")
	if r.printed != "error: no description has been implemented for Event\n" {
		t.Errorf("printed %q", r.printed)
	}
}

func TestDescribeNode(t *testing.T) {
	e := newEnv(t)
	e.srv.Put("nodes", &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "worker-1", UID: "n-uid", CreationTimestamp: ago(time.Hour),
			Labels: map[string]string{"kubernetes.io/hostname": "worker-1", "node-role.kubernetes.io/worker": ""}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "AgentReady", Message: "agent is posting ready status",
				LastHeartbeatTime: ago(time.Second), LastTransitionTime: ago(time.Hour)}},
			Addresses:   []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.0.0.2"}, {Type: corev1.NodeHostName, Address: "worker-1"}},
			Capacity:    corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")},
			NodeInfo:    corev1.NodeSystemInfo{KernelVersion: "6.1.0", OSImage: "Debian", OperatingSystem: "linux", Architecture: "amd64", KubeletVersion: "v0.1.0"},
		},
	})
	p := pod("web", 5*time.Minute, corev1.PodRunning)
	p.Spec.NodeName = "worker-1"
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
	e.srv.Put("pods", p)
	done := pod("job", 5*time.Minute, corev1.PodSucceeded)
	done.Spec.NodeName = "worker-1"
	e.srv.Put("pods", done)

	r := e.run("describe", "node", "worker-1")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if want := "Lease:              Failed to get lease: leases.coordination.k8s.io \"worker-1\" not found\n"; !strings.Contains(r.out, want) {
		t.Errorf("without a lease: missing %q in:\n%s", want, r.out)
	}
	holder := "worker-1"
	e.srv.Put("leases", &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "worker-1", Namespace: "kube-node-lease"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &metav1.MicroTime{Time: ago(2 * time.Second).Time}}})
	r = e.run("describe", "node", "worker-1")
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, want := range []string{
		"Unschedulable:      false\nLease:\n  HolderIdentity:  worker-1\n  AcquireTime:     <unset>\n  RenewTime:       Sat, 01 Mar 2025 09:59:58 +0000\n",
		"Name:               worker-1\nRoles:              worker\n",
		"Labels:             kubernetes.io/hostname=worker-1\n                    node-role.kubernetes.io/worker=\n",
		"  Ready   True    Sat, 01 Mar 2025 09:59:59 +0000   Sat, 01 Mar 2025 09:00:00 +0000   AgentReady   agent is posting ready status\n",
		"Addresses:\n  InternalIP:  10.0.0.2\n  Hostname:    worker-1\n",
		"Capacity:\n  cpu:     4\n  memory:  8Gi\n",
		"Non-terminated Pods:          (1 in total)\n",
		"  default                     web     500m (12%)    0 (0%)      1Gi (12%)        0 (0%)         5m\n",
		"  cpu                500m (12%)  0 (0%)\n",
		"Events:              <none>\n",
	} {
		if !strings.Contains(r.out, want) {
			t.Errorf("missing %q in:\n%s", want, r.out)
		}
	}
}
