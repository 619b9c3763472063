package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// logsContain waits until the container's log holds want.
func (c *cluster) logsContain(pod, container, want string, timeout time.Duration) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("%q in the log of %s/%s", want, pod, container), timeout, func() (bool, string) {
		logs, errOut, _ := c.ctl("logs", pod, "-c", container)
		return strings.Contains(logs, want), logs + errOut + "\n" + c.describe(pod)
	})
}

// waitPodStatus waits until the STATUS column of the pod matches re.
func (c *cluster) waitPodStatus(pod, re string, timeout time.Duration) {
	c.t.Helper()
	c.waitFor("pod "+pod+" status "+re, timeout, func() (bool, string) {
		out, _, _ := c.ctl("get", "pod", pod, "--no-headers")
		return regexp.MustCompile(re).MatchString(out), out + "\n" + c.describe(pod)
	})
}

// deletePod deletes a pod and waits until it is gone.
func (c *cluster) deletePod(name string) {
	c.t.Helper()
	c.mustCtl("delete", "pod", name, "--grace-period=1")
	c.waitFor("pod "+name+" gone", 60*time.Second, func() (bool, string) {
		_, errOut, err := c.ctl("get", "pod", name)
		return err != nil && strings.Contains(errOut, "not found"), errOut
	})
}

// volumeMounts lists the mount points under the cluster's volumes plugin
// directory, as the host sees them.
func (c *cluster) volumeMounts(t *testing.T) []string {
	t.Helper()
	root := filepath.Join(c.dataDir, "plugins", "volumes")
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && strings.HasPrefix(fields[4], root) {
			out = append(out, fields[4])
		}
	}
	return out
}

// wantNoVolumesLeft checks that no pod directory and no mount of the
// volumes plugin is left.
func (c *cluster) wantNoVolumesLeft(t *testing.T) {
	t.Helper()
	c.waitFor("volumes torn down", 30*time.Second, func() (bool, string) {
		ms := c.volumeMounts(t)
		entries, _ := os.ReadDir(filepath.Join(c.dataDir, "plugins", "volumes", "pods"))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return len(ms) == 0 && len(entries) == 0, fmt.Sprintf("mounts %q, pod dirs %q", ms, names)
	})
}

// setUnschedulable cordons or uncordons the test node.
func (c *cluster) setUnschedulable(on bool) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("node unschedulable=%v", on), 30*time.Second, func() (bool, string) {
		out, errOut, err := c.ctl("get", "node", "skiff-e2e", "-o", "json")
		if err != nil {
			return false, errOut
		}
		var node map[string]any
		if err := json.Unmarshal([]byte(out), &node); err != nil {
			return false, err.Error()
		}
		spec, _ := node["spec"].(map[string]any)
		if spec == nil {
			spec = map[string]any{}
			node["spec"] = spec
		}
		spec["unschedulable"] = on
		data, _ := json.Marshal(node)
		out, errOut, err = c.ctlIn(string(data), "apply", "-f", "-")
		return err == nil, out + errOut
	})
}

// filesContaining lists the files under dir holding any of needles.
func filesContaining(t *testing.T, dir string, needles ...string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(data, []byte(n)) {
				hits = append(hits, fmt.Sprintf("%s holds %q", p, n))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return hits
}

const appConfig = `apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  greeting: %s
  level: debug
  unused: "not projected"
`

// An init container writes into an emptyDir the app reads; a ConfigMap is
// mounted with items and an update reaches the running container within
// seconds; a Secret is mounted on tmpfs and never reaches etcd's files in
// clear; env comes from both; missing references wait with the kubelet's
// reasons; rotation of the encryption key keeps secrets readable; nothing
// is left mounted once the pods are gone.
func TestVolumesConfigMapsAndSecrets(t *testing.T) {
	c := startCluster(t)
	const secretValue = "e2e-s3cr3t-Horse-Battery"
	c.apply(fmt.Sprintf(appConfig, "hello-v1"))
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: db-creds
stringData:
  password: %s
data:
  user: YWRtaW4=
`, secretValue))
	if out := c.mustCtl("get", "configmaps"); !regexp.MustCompile(`(?m)^NAME\s+DATA\s+AGE\n(?s:.*)^app-config\s+3\s+\d+s$`).MatchString(out) {
		t.Errorf("get configmaps:\n%s", out)
	}
	if out := c.mustCtl("get", "secrets"); !regexp.MustCompile(`(?m)^NAME\s+TYPE\s+DATA\s+AGE\n^db-creds\s+Opaque\s+2\s+\d+s$`).MatchString(out) {
		t.Errorf("get secrets:\n%s", out)
	}
	if out := c.mustCtl("describe", "secret", "db-creds"); !regexp.MustCompile(`password:\s+24 bytes`).MatchString(out) || strings.Contains(out, secretValue) {
		t.Errorf("describe secret:\n%s", out)
	}

	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: consumer
spec:
  volumes:
  - name: work
    emptyDir: {}
  - name: config
    configMap:
      name: app-config
      items:
      - key: greeting
        path: conf/greeting.txt
        mode: 0400
  - name: creds
    secret:
      secretName: db-creds
  initContainers:
  - name: prepare
    image: %[1]s
    command: ["sh", "-c", "echo made-by-init > /work/msg"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: app
    image: %[1]s
    command: ["sh", "-c"]
    args:
    - |
      cat /work/msg
      echo "env: $REDIS_LEVEL $DB_PASSWORD $CFG_level $user"
      ls /config /config/conf
      grep " /creds " /proc/mounts
      echo "password: $(cat /creds/password)"
      touch /config/x 2>/dev/null || echo "config is read-only"
      while true; do echo "greeting: $(cat /config/conf/greeting.txt)"; sleep 1; done
    env:
    - name: REDIS_LEVEL
      valueFrom:
        configMapKeyRef: {name: app-config, key: level}
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef: {name: db-creds, key: password}
    - name: OPTIONAL
      valueFrom:
        configMapKeyRef: {name: nowhere, key: x, optional: true}
    envFrom:
    - prefix: CFG_
      configMapRef: {name: app-config}
    - secretRef: {name: db-creds}
    volumeMounts:
    - {name: work, mountPath: /work}
    - {name: config, mountPath: /config}
    - {name: creds, mountPath: /creds, readOnly: true}
`, testImage))
	c.waitPodPhase("consumer", "Running", 90*time.Second)
	for _, want := range []string{
		"made-by-init",
		"env: debug " + secretValue + " debug admin",
		"tmpfs",
		"password: " + secretValue,
		"config is read-only",
		"greeting: hello-v1",
	} {
		c.logsContain("consumer", "app", want, 30*time.Second)
	}
	logs := c.mustCtl("logs", "consumer", "-c", "app")
	if strings.Contains(logs, "unused") || strings.Contains(logs, "level\n") {
		t.Errorf("items projected more than greeting:\n%s", logs)
	}

	// An update reaches the running container at once: the agent watches
	// the ConfigMap (its --sync-frequency, 10s, is only the fallback).
	c.apply(fmt.Sprintf(appConfig, "hello-v2"))
	start := time.Now()
	c.logsContain("consumer", "app", "greeting: hello-v2", 15*time.Second)
	t.Logf("configMap update seen in the container after %v", time.Since(start).Round(100*time.Millisecond))

	// The secret is encrypted in etcd: neither its value nor its base64 is
	// in etcd's files; the configmap (not encrypted) is, which shows the
	// search works.
	etcdDir := filepath.Join(c.dataDir, "etcd")
	if hits := filesContaining(t, etcdDir, secretValue, base64.StdEncoding.EncodeToString([]byte(secretValue))); len(hits) > 0 {
		t.Errorf("the secret is readable in etcd's files: %v", hits)
	}
	if hits := filesContaining(t, etcdDir, "hello-v2"); len(hits) == 0 {
		t.Errorf("the configmap is not found in etcd's files: the search for the secret proves nothing")
	}
	keyFile := filepath.Join(c.dataDir, "pki", "encryption-keys.json")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("encryption key file: %v (%v), want mode 0600", fi, err)
	}

	// Missing references: env waits in CreateContainerConfigError, a
	// volume in ContainerCreating, each with an event naming the object;
	// creating the object lets the pod start.
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: missing-env
spec:
  containers:
  - name: app
    image: %[1]s
    command: ["sh", "-c", "echo late=$LATE; exec sleep 3600"]
    env:
    - name: LATE
      valueFrom:
        configMapKeyRef: {name: late-config, key: value}
---
apiVersion: v1
kind: Pod
metadata:
  name: missing-key
spec:
  containers:
  - name: app
    image: %[1]s
    command: ["sleep", "3600"]
    env:
    - name: NOPE
      valueFrom:
        configMapKeyRef: {name: app-config, key: nope}
---
apiVersion: v1
kind: Pod
metadata:
  name: missing-volume
spec:
  volumes:
  - name: cfg
    configMap: {name: late-volume}
  containers:
  - name: app
    image: %[1]s
    command: ["sh", "-c", "cat /cfg/k; echo; exec sleep 3600"]
    volumeMounts: [{name: cfg, mountPath: /cfg}]
`, testImage))
	c.waitPodStatus("missing-env", `missing-env\s+0/1\s+CreateContainerConfigError\s`, 60*time.Second)
	c.waitPodStatus("missing-key", `missing-key\s+0/1\s+CreateContainerConfigError\s`, 60*time.Second)
	c.waitPodStatus("missing-volume", `missing-volume\s+0/1\s+ContainerCreating\s`, 60*time.Second)
	for pod, want := range map[string]string{
		"missing-env":    `Error: configmap "late-config" not found`,
		"missing-key":    `Error: couldn't find key nope in ConfigMap default/app-config`,
		"missing-volume": `MountVolume.SetUp failed for volume "cfg" : configmap "late-volume" not found`,
	} {
		if desc := c.describe(pod); !strings.Contains(desc, want) {
			t.Errorf("describe %s lacks %q:\n%s", pod, want, desc)
		}
	}
	c.mustCtl("create", "configmap", "late-config", "--from-literal=value=arrived")
	c.mustCtl("create", "configmap", "late-volume", "--from-literal=k=volume-arrived")
	c.logsContain("missing-env", "app", "late=arrived", 60*time.Second)
	c.logsContain("missing-volume", "app", "volume-arrived", 60*time.Second)

	// Rotating the encryption key (skiffd stopped) re-encrypts secrets;
	// the server reads them with the new key; running pods are untouched.
	if out, err := exec.Command(filepath.Join(binDir, "skiffd"), "rotate-encryption-key", "--data-dir", c.dataDir).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "stop skiffd before rotating the key") {
		t.Errorf("rotation while skiffd runs: %v\n%s", err, out)
	}
	oldKeys, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	c.stop()
	out, err := exec.Command(filepath.Join(binDir, "skiffd"), "rotate-encryption-key", "--data-dir", c.dataDir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1 secrets re-encrypted") {
		t.Fatalf("rotate-encryption-key: %v\n%s", err, out)
	}
	if newKeys, _ := os.ReadFile(keyFile); bytes.Equal(newKeys, oldKeys) {
		t.Fatal("the key file did not change")
	}
	c.start()
	if got := c.jsonpath("secret/db-creds", "{.data.password}"); got != base64.StdEncoding.EncodeToString([]byte(secretValue)) {
		t.Errorf("secret after rotation: %q", got)
	}
	c.logsContain("consumer", "app", "greeting: hello-v2", 30*time.Second)

	for _, p := range []string{"consumer", "missing-env", "missing-key", "missing-volume"} {
		c.deletePod(p)
	}
	c.wantNoVolumesLeft(t)
}

// Paths that would leave a volume are refused: by the server for item
// paths and subPaths, by the node for symlinks a container plants before a
// later subPath mount. hostPath volumes need --allow-host-path.
func TestVolumeTraversalRefusedAndHostPath(t *testing.T) {
	c := startCluster(t)
	for name, tc := range map[string]struct{ volume, mount, want string }{
		"item path": {`configMap: {name: c, items: [{key: k, path: ../../escape}]}`, `{name: v, mountPath: /v}`,
			`spec.volumes[0].configMap.items[0].path: Invalid value: "../../escape": must not contain '..'`},
		"absolute item path": {`secret: {secretName: s, items: [{key: k, path: /etc/passwd}]}`, `{name: v, mountPath: /v}`,
			`spec.volumes[0].secret.items[0].path: Invalid value: "/etc/passwd": must be a relative path`},
		"subPath backsteps": {`emptyDir: {}`, `{name: v, mountPath: /v, subPath: a/../../../etc}`,
			`spec.containers[0].volumeMounts[0].subPath: Invalid value: "a/../../../etc": must not contain '..'`},
		"absolute subPath": {`emptyDir: {}`, `{name: v, mountPath: /v, subPath: /etc}`,
			`spec.containers[0].volumeMounts[0].subPath: Invalid value: "/etc": must be a relative path`},
		"hostPath backsteps": {`hostPath: {path: /var/../etc}`, `{name: v, mountPath: /v}`,
			`spec.volumes[0].hostPath.path: Invalid value: "/var/../etc": must not contain '..'`},
	} {
		manifest := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  volumes:\n  - name: v\n    %s\n  containers:\n  - name: a\n    image: %s\n    volumeMounts: [%s]\n",
			tc.volume, testImage, tc.mount)
		if out, errOut, err := c.ctlIn(manifest, "apply", "-f", "-"); err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: err=%v stdout=%q stderr=%q, want %q", name, err, out, errOut, tc.want)
		}
	}

	// A container plants symlinks in its emptyDir; later subPath mounts of
	// them are refused by the node, while a real directory mounts.
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: planter
spec:
  volumes:
  - name: work
    emptyDir: {}
  initContainers:
  - name: plant
    image: %[1]s
    command: ["sh", "-c", "mkdir -p /work/ok && echo inside > /work/ok/f && busybox ln -s / /work/abs && busybox ln -s ../../../../../../../../.. /work/up && busybox ln -s ok /work/link"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: good
    image: %[1]s
    command: ["sh", "-c", "cat /m/f; cat /l/f; exec sleep 3600"]
    volumeMounts:
    - {name: work, mountPath: /m, subPath: ok}
    - {name: work, mountPath: /l, subPath: link}
  - name: abs
    image: %[1]s
    command: ["sh", "-c", "ls /m; exec sleep 3600"]
    volumeMounts: [{name: work, mountPath: /m, subPath: abs/etc}]
  - name: up
    image: %[1]s
    command: ["sh", "-c", "ls /m; exec sleep 3600"]
    volumeMounts: [{name: work, mountPath: /m, subPath: up}]
`, testImage))
	c.waitFor("good running, abs and up refused", 90*time.Second, func() (bool, string) {
		out, _, _ := c.ctl("get", "pod", "planter", "-o", "jsonpath={range .status.containerStatuses[*]}{.name}={.state.waiting.reason}{.state.running.startedAt}{\"\\n\"}{end}")
		return regexp.MustCompile(`good=\d{4}-`).MatchString(out) &&
			strings.Contains(out, "abs=CreateContainerConfigError") && strings.Contains(out, "up=CreateContainerConfigError"), out
	})
	c.logsContain("planter", "good", "inside\ninside", 30*time.Second)
	desc := c.describe("planter")
	for _, want := range []string{
		`failed to prepare subPath for volumeMount "work" of container "abs"`,
		`failed to prepare subPath for volumeMount "work" of container "up"`,
		"points outside the volume", "leads above the volume",
	} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe planter lacks %q:\n%s", want, desc)
		}
	}

	// hostPath: refused on a node that does not allow it.
	host := t.TempDir()
	if err := os.WriteFile(filepath.Join(host, "from-host"), []byte("host-file-content"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostPod := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: host
spec:
  volumes:
  - name: h
    hostPath: {path: %[2]s, type: Directory}
  - name: made
    hostPath: {path: %[2]s/made, type: DirectoryOrCreate}
  containers:
  - name: app
    image: %[1]s
    command: ["sh", "-c", "cat /h/from-host; echo; echo from-pod > /made/out; exec sleep 3600"]
    volumeMounts: [{name: h, mountPath: /h, readOnly: true}, {name: made, mountPath: /made}]
`, testImage, host)
	c.apply(hostPod)
	c.waitFor("hostPath refused", 60*time.Second, func() (bool, string) {
		desc := c.describe("host")
		return strings.Contains(desc, `hostPath volumes are not allowed on node "skiff-e2e" (its agent runs without --allow-host-path)`), desc
	})
	c.deletePod("host")
	c.deletePod("planter")
	c.wantNoVolumesLeft(t)

	// Allowed with --allow-host-path, with type checks.
	c.stop()
	c.extraArgs = append(c.extraArgs, "--allow-host-path")
	c.start()
	c.apply(hostPod)
	c.logsContain("host", "app", "host-file-content", 90*time.Second)
	c.waitFor("a file written through the hostPath", 30*time.Second, func() (bool, string) {
		data, err := os.ReadFile(filepath.Join(host, "made", "out"))
		return err == nil && string(data) == "from-pod\n", fmt.Sprint(err)
	})
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: wrong-type
spec:
  volumes:
  - name: h
    hostPath: {path: %[2]s, type: File}
  containers:
  - name: app
    image: %[1]s
    command: ["sleep", "3600"]
    volumeMounts: [{name: h, mountPath: /h}]
`, testImage, host))
	c.waitFor("hostPath type check", 60*time.Second, func() (bool, string) {
		desc := c.describe("wrong-type")
		return strings.Contains(desc, "hostPath type check failed: "+host+" is not a file"), desc
	})
	c.deletePod("host")
	c.deletePod("wrong-type")
	c.wantNoVolumesLeft(t)
	if _, err := os.Stat(filepath.Join(host, "from-host")); err != nil {
		t.Errorf("deleting the pod touched the host path: %v", err)
	}
}

// The chapter's ambassador and sidecar manifests apply unchanged; pods of
// the same shapes on the test image work (the chapter's images are not
// reachable offline).
func TestConfigMapAndSecretChapterExamples(t *testing.T) {
	c := startCluster(t)
	// The chapter's pods name images on Docker Hub: cordon the node so
	// that they are accepted and stored but never pulled (tests stay
	// offline).
	c.setUnschedulable(true)
	c.mustCtl("run", "canary", "--image="+testImage, "--", "sleep", "3600")
	c.waitFor("the scheduler sees the cordon", 30*time.Second, func() (bool, string) {
		msg := c.jsonpath("pod/canary", `{.status.conditions[?(@.type=="PodScheduled")].message}`)
		return strings.Contains(msg, "unschedulable"), msg
	})
	c.deletePod("canary")
	applyTwice := func(file string) {
		t.Helper()
		path := filepath.Join(chapterDir, file)
		if out := c.mustCtl("apply", "-f", path); !strings.Contains(out, " created") {
			t.Errorf("apply -f %s: %s", file, out)
		}
		if out := c.mustCtl("apply", "-f", path); !strings.Contains(out, " unchanged") {
			t.Errorf("second apply -f %s: %s", file, out)
		}
	}
	// The nginx pod's three versions, one after the other as the chapter
	// applies them (a pod's spec cannot change in place).
	for _, file := range []string{"nginx-pod.yaml", "nginx-probe.yaml", "nginx-init.yaml"} {
		applyTwice(file)
		if out := c.mustCtl("get", "pod", "nginx", "--no-headers"); !regexp.MustCompile(`^nginx\s+0/1\s+Pending\s`).MatchString(out) {
			t.Errorf("get pod nginx from %s: %s", file, out)
		}
		c.deletePod("nginx")
	}
	for _, file := range []string{"redis-config-map.yaml", "nginx-config-map.yaml", "flask-ambassador.yaml", "redis-secret.yaml", "flask-sidecar.yaml"} {
		applyTwice(file)
	}
	for _, pod := range []string{"flask-ambassador", "flask-sidecar"} {
		if out := c.mustCtl("get", "pod", pod, "--no-headers"); !regexp.MustCompile(`^` + pod + `\s+0/2\s+Pending\s`).MatchString(out) {
			t.Errorf("get pod %s: %s", pod, out)
		}
	}
	c.deletePod("flask-ambassador")
	c.deletePod("flask-sidecar")
	c.setUnschedulable(false)

	// The ambassador runs on offline stand-ins of its images in
	// TestMultiNodeCluster (ambassador_test.go), across workers.

	// The sidecar's shape: the secret as /redis-master/init.redis, and
	// the same key as a single file through subPath.
	c.apply(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: sidecar
spec:
  containers:
  - name: redis-sidecar
    image: %[1]s
    command: ["sh", "-c", "cat /redis-master/init.redis; cat /single/init.redis; exec sleep 3600"]
    volumeMounts:
    - mountPath: /redis-master
      name: secret
    - mountPath: /single/init.redis
      name: secret
      subPath: init.redis
  volumes:
  - name: secret
    secret:
      secretName: redis-secret
      items:
      - key: redis-secret
        path: init.redis
`, testImage))
	c.logsContain("sidecar", "redis-sidecar", "SET secret foobar\nSET secret foobar\n", 90*time.Second)
	if hits := filesContaining(t, filepath.Join(c.dataDir, "etcd"), "SET secret foobar", "U0VUIHNlY3JldCBmb29iYXIK"); len(hits) > 0 {
		t.Errorf("the chapter's secret is readable in etcd's files: %v", hits)
	}
	if ms := c.volumeMounts(t); len(ms) < 2 {
		t.Errorf("mounts under the volumes plugin while pods run: %q, want the secret's tmpfs and the subPath bind", ms)
	}

	// skiffd dies while the sidecar is terminating (its sleep ignores
	// SIGTERM, so the agent is waiting out the grace period): the agent
	// started again finishes the teardown, mounts included.
	c.mustCtl("delete", "pod", "sidecar", "--grace-period=5", "--wait=false")
	time.Sleep(time.Second)
	_ = c.cmd.Process.Kill()
	<-c.exited
	c.cmd = nil
	if ms := c.volumeMounts(t); len(ms) == 0 {
		t.Errorf("no mounts left while the sidecar terminates: the check below proves nothing")
	}
	c.start()
	c.waitFor("sidecar gone", 60*time.Second, func() (bool, string) {
		_, errOut, err := c.ctl("get", "pod", "sidecar")
		return err != nil && strings.Contains(errOut, "not found"), errOut
	})
	c.wantNoVolumesLeft(t)
}
