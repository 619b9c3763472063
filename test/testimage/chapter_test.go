package testimage

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/skiffhq/skiff/test/testenv"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests below run the stand-in scripts on this machine, not in
// containers: with /bin/busybox sh, in process groups of their own that
// cleanup kills, on free ports of 127.0.0.1 only.

// chapterNginxConf is the chapter's nginx.conf template (the ConfigMap
// nginx-config), with the http block of nginx's default configuration,
// whose quoted log format exercises the stand-in's tokenizer.
const chapterNginxConf = `user  nginx;
worker_processes  auto;

error_log  /var/log/nginx/error.log notice;
pid        /var/run/nginx.pid;

events {
    worker_connections  1024;
}

http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;
    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';
    access_log  /var/log/nginx/access.log  main;   # ; { } in a comment
    sendfile        on;
    keepalive_timeout  65;
}

stream {
    server {
        listen     6379;
        proxy_pass stream_redis_backend;
    }

    upstream stream_redis_backend {
        server REDIS_HOST:REDIS_PORT;
    }
}
`

// initNginxCommand is the chapter's init-nginx command.
const initNginxCommand = `cp -L /config/nginx.conf /etc/nginx/nginx.conf && sed -i "s/REDIS_HOST/${REDIS_HOST}/g" /etc/nginx/nginx.conf && sed -i "s/REDIS_PORT/${REDIS_PORT}/g" /etc/nginx/nginx.conf`

// standin is a stand-in script running on the host.
type standin struct {
	name           string
	pgid           int
	stdout, stderr *testenv.SyncBuffer
	done           chan struct{}
	err            error
}

// scriptDir writes the stand-in scripts of AmbassadorImages, as they are in
// the images, into a directory of their own.
func scriptDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	n := 0
	for _, img := range AmbassadorImages() {
		for _, f := range img.Files {
			if strings.HasSuffix(f.Path, "/") {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f.Path)), f.Data, os.FileMode(f.Mode)); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n != 5 {
		t.Fatalf("the images have %d scripts, want 5", n)
	}
	return dir
}

// scriptEnv is the environment of a script: no PATH to the host's
// commands (busybox sh runs its applets without one), UTC.
func scriptEnv(t *testing.T, env ...string) []string {
	return append([]string{"PATH=" + t.TempDir(), "TZ=UTC0", "TMPDIR=" + t.TempDir()}, env...)
}

// start runs a script of dir with busybox sh in a process group of its own,
// killed at cleanup.
func start(t *testing.T, dir, script string, env []string, args ...string) *standin {
	t.Helper()
	cmd := exec.Command(BusyboxPath, append([]string{"sh", filepath.Join(dir, script)}, args...)...)
	cmd.Env = scriptEnv(t, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s := &standin{name: script, stdout: &testenv.SyncBuffer{}, stderr: &testenv.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.pgid = cmd.Process.Pid
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.kill()
		<-s.done
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", s.name, s.stdout, s.name, s.stderr)
		}
	})
	return s
}

// kill ends the stand-in and every process it started.
func (s *standin) kill() {
	syscall.Kill(-s.pgid, syscall.SIGKILL)
}

// waitOutput waits until the stand-in's stdout has want.
func (s *standin) waitOutput(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stdout.String(), want) {
		if time.Now().After(deadline) {
			t.Errorf("%s: stdout %q does not have %q", s.name, s.stdout, want)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitListening waits until port accepts connections.
func (s *standin) waitListening(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr(port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.done:
			t.Fatalf("%s exited (%v) instead of listening on %d; stderr:\n%s", s.name, s.err, port, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %d: %v", s.name, port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// freePort returns a port of 127.0.0.1 that nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// resp is a client connection to the redis stand-in.
type resp struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRedis(t *testing.T, port int) *resp {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr(port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &resp{t: t, c: c, r: bufio.NewReader(c)}
}

// send writes raw bytes and returns the next reply as it is on the wire.
func (r *resp) send(raw string) string {
	r.t.Helper()
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(r.c, raw); err != nil {
		r.t.Fatalf("sending %q: %v", raw, err)
	}
	return r.reply()
}

// do sends a command as a RESP array and returns the reply as on the wire.
func (r *resp) do(args ...string) string {
	r.t.Helper()
	cmd := fmt.Sprintf("*%d\r\n", len(args))
	for _, a := range args {
		cmd += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
	}
	return r.send(cmd)
}

func (r *resp) reply() string {
	r.t.Helper()
	line, err := r.r.ReadString('\n')
	if err != nil {
		r.t.Fatalf("reading a reply: %v (got %q)", err, line)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(line[1:])); line[0] == '$' && err == nil && n >= 0 {
		data := make([]byte, n+2)
		if _, err := io.ReadFull(r.r, data); err != nil {
			r.t.Fatalf("reading a bulk reply: %v", err)
		}
		line += string(data)
	}
	return line
}

func bulk(s string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }

func startRedis(t *testing.T, dir string) (*standin, int) {
	t.Helper()
	port := freePort(t)
	s := start(t, dir, "redis-server", []string{"STANDIN_BIND=127.0.0.1", "STANDIN_REDIS_LISTEN=" + strconv.Itoa(port), "STANDIN_DATA_DIR=" + t.TempDir()})
	s.waitListening(t, port)
	return s, port
}

func TestRedisStandIn(t *testing.T) {
	requireBusybox(t)
	s, port := startRedis(t, scriptDir(t))
	s.waitOutput(t, "Ready to accept connections")

	// One connection, many commands, as a client library sends them.
	c := dialRedis(t, port)
	value := "a value\r\nwith CRLF, \x00 and ümlauts"
	for _, step := range []struct{ args, want []string }{
		{[]string{"PING"}, []string{"+PONG\r\n"}},
		{[]string{"PING", "hi"}, []string{bulk("hi")}},
		{[]string{"CLIENT", "SETINFO", "LIB-NAME", "redis-py"}, []string{"+OK\r\n"}},
		{[]string{"SELECT", "0"}, []string{"+OK\r\n"}},
		{[]string{"GET", "last_visited"}, []string{"$-1\r\n"}},
		{[]string{"GETSET", "last_visited", "2023-06-18, 16:52:28"}, []string{"$-1\r\n"}},
		{[]string{"GETSET", "last_visited", "2023-06-18, 16:53:00"}, []string{bulk("2023-06-18, 16:52:28")}},
		{[]string{"get", "last_visited"}, []string{bulk("2023-06-18, 16:53:00")}},
		{[]string{"SET", "k", value}, []string{"+OK\r\n"}},
		{[]string{"GET", "k"}, []string{bulk(value)}},
		{[]string{"SET", "k", "v2", "NX"}, []string{"$-1\r\n"}},
		{[]string{"SET", "k", "", "EX", "60"}, []string{"+OK\r\n"}},
		{[]string{"GET", "k"}, []string{bulk("")}},
		{[]string{"SET", "k/../../x y", "odd key"}, []string{"+OK\r\n"}},
		{[]string{"GET", "k/../../x y"}, []string{bulk("odd key")}},
		{[]string{"INCR", "n"}, []string{":1\r\n"}},
		{[]string{"INCR", "n"}, []string{":2\r\n"}},
		{[]string{"EXISTS", "k", "n", "none"}, []string{":2\r\n"}},
		{[]string{"DEL", "n"}, []string{":1\r\n"}},
		{[]string{"GET"}, []string{"-ERR wrong number of arguments for 'get' command\r\n"}},
		{[]string{"SET", "k", "v", "BOGUS"}, []string{"-ERR syntax error\r\n"}},
		{[]string{"FOO", "a", "b"}, []string{"-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"}},
	} {
		if got := c.do(step.args...); got != step.want[0] {
			t.Errorf("%q: reply %q, want %q", step.args, got, step.want[0])
		}
	}
	// Inline commands, and two commands in one write.
	if got := c.send("PING\r\n"); got != "+PONG\r\n" {
		t.Errorf("inline PING: %q", got)
	}
	if got := c.send("GET last_visited\r\nGET nothing\r\n"); got != bulk("2023-06-18, 16:53:00") {
		t.Errorf("inline GET: %q", got)
	}
	if got := c.reply(); got != "$-1\r\n" {
		t.Errorf("pipelined inline GET: %q", got)
	}

	// Two connections at once, then many one after another.
	other := dialRedis(t, port)
	if got := other.do("GET", "last_visited"); got != bulk("2023-06-18, 16:53:00") {
		t.Errorf("second connection: %q", got)
	}
	if got := c.do("PING"); got != "+PONG\r\n" {
		t.Errorf("first connection after the second: %q", got)
	}
	for i := range 15 {
		c := dialRedis(t, port)
		if got := c.do("SET", "i", strconv.Itoa(i)); got != "+OK\r\n" {
			t.Fatalf("connection %d: SET: %q", i, got)
		}
		if got := c.do("GET", "i"); got != bulk(strconv.Itoa(i)) {
			t.Fatalf("connection %d: GET: %q", i, got)
		}
		c.c.Close()
	}

	// QUIT answers and closes.
	if got := c.do("QUIT"); got != "+OK\r\n" {
		t.Errorf("QUIT: %q", got)
	}
	if b, err := c.r.ReadByte(); err == nil {
		t.Errorf("the connection stays open after QUIT (read %q)", b)
	}
}

// renderNginxConf runs the chapter's init-nginx command with busybox sh on
// a ConfigMap-like volume holding template, with the given environment,
// and returns the rendered file. sedPort false leaves out the command's
// last sed, as the chapter's first, wrong, version does.
func renderNginxConf(t *testing.T, template string, sedPort bool, env ...string) string {
	t.Helper()
	root := t.TempDir()
	config := filepath.Join(root, "config")
	data := filepath.Join(config, "..2024_01_01_00_00_00.000000000")
	out := filepath.Join(root, "etc", "nginx")
	for _, d := range []string{data, out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(data, "nginx.conf"), []byte(template), 0o644); err != nil {
		t.Fatal(err)
	}
	// A ConfigMap volume: nginx.conf -> ..data/nginx.conf -> the data dir.
	if err := os.Symlink(filepath.Base(data), filepath.Join(config, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/nginx.conf", filepath.Join(config, "nginx.conf")); err != nil {
		t.Fatal(err)
	}
	command := initNginxCommand
	if !sedPort {
		command = command[:strings.LastIndex(command, " && ")]
	}
	command = strings.ReplaceAll(command, "/config/", config+"/")
	command = strings.ReplaceAll(command, "/etc/nginx/", out+"/")
	cmd := exec.Command(BusyboxPath, "sh", "-c", command)
	cmd.Env = scriptEnv(t, env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("init-nginx command: %v\n%s", err, b)
	}
	path := filepath.Join(out, "nginx.conf")
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("rendered nginx.conf: %v, %v (want a regular file)", fi, err)
	}
	return path
}

func httpGet(t *testing.T, port int, path string) (int, http.Header, string) {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr(port) + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", path, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

var pageRE = regexp.MustCompile(`^Hi there! This page was last visited on (.*)\.\n$`)

// visit gets / from the Flask stand-in and returns the value the page shows.
func visit(t *testing.T, port int) string {
	t.Helper()
	code, hdr, body := httpGet(t, port, "/")
	if code != http.StatusOK {
		t.Fatalf("GET /: %d %q", code, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cl := hdr.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %q for a body of %d bytes", cl, len(body))
	}
	m := pageRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("GET /: body %q", body)
	}
	return m[1]
}

// TestAmbassadorStandIns wires the pod of the chapter on the loopback:
// the Flask stand-in talks to the nginx stand-in, configured by the
// chapter's init command, which proxies to the redis stand-in.
func TestAmbassadorStandIns(t *testing.T) {
	requireBusybox(t)
	dir := scriptDir(t)
	redis, redisPort := startRedis(t, dir)

	nginxPort := freePort(t)
	template := strings.Replace(chapterNginxConf, "listen     6379;", fmt.Sprintf("listen     127.0.0.1:%d;", nginxPort), 1)
	conf := renderNginxConf(t, template, true, "REDIS_HOST=127.0.0.1", "REDIS_PORT="+strconv.Itoa(redisPort))
	nginx := start(t, dir, "nginx", []string{"STANDIN_NGINX_CONF=" + conf}, "-g", "daemon off;")
	nginx.waitListening(t, nginxPort)
	nginx.waitOutput(t, fmt.Sprintf("stream proxy 127.0.0.1:%d -> 127.0.0.1:%d", nginxPort, redisPort))

	flaskPort := freePort(t)
	flask := start(t, dir, "flask-app", []string{"STANDIN_BIND=127.0.0.1", "STANDIN_FLASK_LISTEN=" + strconv.Itoa(flaskPort), "STANDIN_REDIS_ADDR=" + addr(nginxPort)})
	flask.waitListening(t, flaskPort)
	flask.waitOutput(t, fmt.Sprintf("Running on http://127.0.0.1:%d", flaskPort))

	// The first visit finds no value: the page shows the time it set.
	first := visit(t, flaskPort)
	ts, err := time.Parse("2006-01-02, 15:04:05", first)
	if err != nil {
		t.Fatalf("first visit shows %q, not a time: %v", first, err)
	}
	if d := time.Since(ts); d < -time.Minute || d > time.Minute {
		t.Errorf("first visit shows %s, %v from now", first, d)
	}
	// The second shows the value the first left in redis.
	if second := visit(t, flaskPort); second != first {
		t.Errorf("second visit shows %q, want the first visit's %q", second, first)
	}
	// GETSET: the page shows what redis had, and redis then has the time.
	r := dialRedis(t, redisPort)
	if got := r.do("SET", "last_visited", "2023-06-18, 16:52:28"); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	if got := visit(t, flaskPort); got != "2023-06-18, 16:52:28" {
		t.Errorf("visit shows %q, want the value set in redis", got)
	}
	now := r.do("GET", "last_visited")
	if !regexp.MustCompile(`^\$20\r\n\d{4}-\d\d-\d\d, \d\d:\d\d:\d\d\r\n$`).MatchString(now) {
		t.Errorf("after a visit redis has %q, want the time of the visit", now)
	}

	// The raw response, as curl sees it.
	c, err := net.DialTimeout("tcp", addr(flaskPort), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: localhost:5000\r\nUser-Agent: curl/8.0\r\nAccept: */*\r\n\r\n")
	raw, err := io.ReadAll(c)
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(raw), "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.0 200 OK\r\n") || !strings.Contains(head, "\r\nContent-Type: text/html; charset=utf-8") ||
		!strings.Contains(head, fmt.Sprintf("\r\nContent-Length: %d", len(body))) || !pageRE.MatchString(body) {
		t.Errorf("raw response %q", raw)
	}

	if code, _, body := httpGet(t, flaskPort, "/other"); code != http.StatusNotFound {
		t.Errorf("GET /other: %d %q, want 404", code, body)
	}

	// Without redis the app answers 500 and says why.
	redis.kill()
	<-redis.done
	code, _, body := httpGet(t, flaskPort, "/")
	if code != http.StatusInternalServerError || !strings.Contains(body, "redis at "+addr(nginxPort)) {
		t.Errorf("GET / without redis: %d %q, want 500 naming redis", code, body)
	}
	// And the stand-ins still serve once it is back.
	redis2 := start(t, dir, "redis-server", []string{"STANDIN_BIND=127.0.0.1", "STANDIN_REDIS_LISTEN=" + strconv.Itoa(redisPort), "STANDIN_DATA_DIR=" + t.TempDir()})
	redis2.waitListening(t, redisPort)
	visit(t, flaskPort)
}

// runNginx runs the nginx stand-in to its end (it must end within a
// minute) and returns its exit code, stdout and stderr.
func runNginx(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, BusyboxPath, append([]string{"sh", filepath.Join(dir, "nginx")}, args...)...)
	cmd.Env = scriptEnv(t, append([]string{"STANDIN_BIND=127.0.0.1"}, env...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case ctx.Err() != nil:
		t.Fatalf("the nginx stand-in runs on (stdout %q, stderr %q)", stdout.String(), stderr.String())
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

func lineOf(t *testing.T, text, substr string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			return i + 1
		}
	}
	t.Fatalf("no line has %q", substr)
	return 0
}

func TestNginxStandInRefusesBadConfigs(t *testing.T) {
	requireBusybox(t)
	dir := scriptDir(t)
	template := strings.Replace(chapterNginxConf, "listen     6379;", fmt.Sprintf("listen     127.0.0.1:%d;", freePort(t)), 1)

	// The chapter's first init command leaves REDIS_PORT in the file.
	conf := renderNginxConf(t, template, false, "REDIS_HOST=redis", "REDIS_PORT=6379")
	code, stdout, stderr := runNginx(t, dir, []string{"STANDIN_NGINX_CONF=" + conf})
	want := fmt.Sprintf("nginx: [emerg] invalid port in upstream \"redis:REDIS_PORT\" in %s:%d\n", conf, lineOf(t, template, "server REDIS_HOST:REDIS_PORT;"))
	if code != 1 || stderr != want || stdout != "" {
		t.Errorf("REDIS_PORT left in: exit %d, stdout %q, stderr %q; want exit 1 and %q", code, stdout, stderr, want)
	}

	missing := filepath.Join(t.TempDir(), "nginx.conf")
	code, _, stderr = runNginx(t, dir, []string{"STANDIN_NGINX_CONF=" + missing})
	want = fmt.Sprintf("nginx: [emerg] open() \"%s\" failed (2: No such file or directory)\n", missing)
	if code != 1 || stderr != want {
		t.Errorf("missing file: exit %d, stderr %q; want exit 1 and %q", code, stderr, want)
	}

	good := renderNginxConf(t, template, true, "REDIS_HOST=redis", "REDIS_PORT=6379")
	code, _, stderr = runNginx(t, dir, nil, "-t", "-c", good)
	if code != 0 || !strings.Contains(stderr, "syntax is ok") {
		t.Errorf("nginx -t on the rendered file: exit %d, stderr %q", code, stderr)
	}

	for name, c := range map[string]struct{ from, to, msg, at string }{
		"unclosed block": {"keepalive_timeout  65;\n}", "keepalive_timeout  65;\n", `unexpected end of file, expecting "}"`, ""},
		"bad listen":     {"listen     127.0.0.1:", "listen     127.0.0.1:x", `invalid port in "127.0.0.1:x`, "listen"},
		"no port":        {"server redis:6379;", "server redis;", `no port in upstream "redis"`, "server redis;"},
		"extra brace":    {"pid        /var/run/nginx.pid;", "pid        /var/run/nginx.pid; }", `unexpected "}"`, "pid "},
	} {
		text := strings.Replace(strings.ReplaceAll(strings.ReplaceAll(template, "REDIS_HOST", "redis"), "REDIS_PORT", "6379"), c.from, c.to, 1)
		path := filepath.Join(t.TempDir(), "nginx.conf")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		line := len(strings.Split(strings.TrimSuffix(text, "\n"), "\n"))
		if c.at != "" {
			line = lineOf(t, text, c.at)
		}
		want := fmt.Sprintf(" in %s:%d\n", path, line)
		code, _, stderr := runNginx(t, dir, []string{"STANDIN_NGINX_CONF=" + path})
		if code != 1 || !strings.HasPrefix(stderr, "nginx: [emerg] "+c.msg) || !strings.HasSuffix(stderr, want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 1 and %q ...%q", name, code, stderr, c.msg, want)
		}
	}
}
