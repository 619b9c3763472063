package testimage

import (
	"embed"
	"path"
)

// The stand-ins of the book chapter's ambassador pattern example: a pod
// whose Flask app talks to redis at localhost:6379, through an nginx
// ambassador container that proxies TCP to the redis Service, with an init
// container that renders nginx.conf from a ConfigMap. AmbassadorImages
// builds them from busybox and the /bin/sh scripts in standin/, offline:
//
//   - BusyboxRef: plain busybox (command sh), for the init container (sh,
//     cp, sed, ...).
//   - RedisRef: /usr/local/bin/redis-server, a redis on TCP 6379 speaking
//     RESP (arrays and inline commands) for PING ECHO GET SET GETSET DEL
//     EXISTS INCR SELECT QUIT and the handshake commands clients send,
//     values in files under /data. A connection stays open for any number
//     of commands until the client closes it or sends QUIT.
//   - NginxRef: /usr/local/bin/nginx -g "daemon off;", which reads
//     /etc/nginx/nginx.conf and emulates its stream block: every stream
//     server's "listen [ADDR:]PORT" is proxied, connection by connection, to
//     the first "server HOST:PORT" of the upstream its proxy_pass names (or
//     to proxy_pass HOST:PORT). A configuration nginx would refuse makes it
//     exit 1 with nginx's message on stderr, such as
//     nginx: [emerg] invalid port in upstream "redis:REDIS_PORT" in /etc/nginx/nginx.conf:LINE
//     or nginx: [emerg] open() "/etc/nginx/nginx.conf" failed (2: No such file or directory).
//   - FlaskRedisRef: /usr/local/bin/flask-app, HTTP on port 5000: GET /
//     does GETSET last_visited NOW (once more when the reply is nil)
//     against redis at 127.0.0.1:6379 and answers HTTP/1.0 200 with
//     "Hi there! This page was last visited on <reply>.\n" (text/html;
//     charset=utf-8), or 500 with the reason when redis cannot be reached.
//
// The servers print a start-up line on stdout and run busybox
// "nc -ll -p PORT -e ..." (one process per connection). For tests on the
// host the scripts honour, besides their flags, STANDIN_BIND (listen
// address, default 0.0.0.0), STANDIN_REDIS_LISTEN (6379),
// STANDIN_DATA_DIR (/data), STANDIN_NGINX_CONF (/etc/nginx/nginx.conf),
// STANDIN_FLASK_LISTEN (5000) and STANDIN_REDIS_ADDR (127.0.0.1:6379). The
// STANDIN_ prefix keeps them clear of the variables Kubernetes-style
// service links define (a Service "redis" defines REDIS_PORT, a Service
// "flask" FLASK_PORT, and so on).
const (
	BusyboxRef    = "busybox:1.28"
	RedisRef      = "skiff.test/redis:1.0"
	NginxRef      = "skiff.test/nginx:1.0"
	FlaskRedisRef = "skiff.test/flask-redis:1.0"

	// AmbassadorArchiveName is the file AmbassadorArchive writes.
	AmbassadorArchiveName = "ambassador-oci.tar"
)

// standinBin is where the stand-in scripts are in their images.
const standinBin = "/usr/local/bin/"

//go:embed standin
var standins embed.FS

// standinScripts are the scripts of each stand-in image.
var standinScripts = map[string][]string{
	RedisRef:      {"redis-server", "redis-conn"},
	NginxRef:      {"nginx"},
	FlaskRedisRef: {"flask-app", "flask-request"},
}

// standinCommands are the commands the scripts run, all busybox applets
// (tests check that Applets links each of them).
var standinCommands = []string{
	"sh", "nc", "awk", "cat", "cp", "cut", "date", "dd", "echo", "kill", "mkdir",
	"mkfifo", "mktemp", "mv", "printf", "rm", "sha256sum", "test", "[", "tr", "wc",
}

func scriptFiles(ref string) []File {
	var files []File
	for _, name := range standinScripts[ref] {
		data, err := standins.ReadFile(path.Join("standin", name))
		if err != nil {
			panic(err) // embedded: cannot happen
		}
		files = append(files, File{Path: standinBin + name, Mode: 0o755, Data: data})
	}
	return files
}

// AmbassadorImages returns the four stand-in images of the ambassador
// pattern example, in the order busybox, redis, nginx, flask (see the
// constants). Build them with Archive, or use AmbassadorArchive.
func AmbassadorImages() []Image {
	return []Image{
		{Ref: BusyboxRef, Cmd: []string{"sh"}},
		{
			Ref:          RedisRef,
			Files:        append(scriptFiles(RedisRef), File{Path: "/data/", Mode: 0o755}),
			Cmd:          []string{standinBin + "redis-server"},
			ExposedPorts: []string{"6379/tcp"},
		},
		{
			Ref:   NginxRef,
			Files: scriptFiles(NginxRef),
			Cmd:   []string{standinBin + "nginx", "-g", "daemon off;"},
		},
		{
			Ref:          FlaskRedisRef,
			Files:        scriptFiles(FlaskRedisRef),
			Cmd:          []string{standinBin + "flask-app"},
			ExposedPorts: []string{"5000/tcp"},
		},
	}
}

// AmbassadorArchive writes the images of AmbassadorImages into one OCI
// layout tar named AmbassadorArchiveName in dir and returns its path, for
// "skiffctl image load" or "skiffctl cluster create --image-archive".
func AmbassadorArchive(dir string) (string, error) {
	return Archive(dir, AmbassadorArchiveName, AmbassadorImages()...)
}
