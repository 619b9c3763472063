package e2e

// chapterManifests are the chapter's ConfigMap, Secret and multi-container
// pod manifests (../shared/seed), byte for byte as the chapter prints them,
// by file name. Their images are on Docker Hub; tests run them on offline
// stand-ins (test/testimage) by replacing only the image lines.
var chapterManifests = map[string]string{
	"redis-config-map.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: redis-config
data:
  host: "redis"
  port: "6379"
`,
	"nginx-config-map.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: nginx-config
data:
  nginx.conf: |
    user  nginx;
    worker_processes  auto;
    error_log  /var/log/nginx/error.log notice;
    pid        /var/run/nginx.pid;
    events {
        worker_connections  1024;
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
`,
	"flask-ambassador.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: flask-ambassador
spec:
  containers:
  - name: flask-app
    image: bharamicrosystems/flask-redis
  - name: nginx-ambassador
    image: nginx
    volumeMounts:
    - mountPath: /etc/nginx
      name: nginx-volume
  initContainers:
  - name: init-nginx
    image: busybox:1.28
    command: ['sh', '-c', 'cp -L /config/nginx.conf /etc/nginx/nginx.conf && sed -i "s/REDIS_HOST/${REDIS_HOST}/g" /etc/nginx/nginx.conf']
    env:
      - name: REDIS_HOST
        valueFrom:
          configMapKeyRef:
            name: redis-config
            key: host
      - name: REDIS_PORT
        valueFrom:
          configMapKeyRef:
            name: redis-config
            key: port
    volumeMounts:
    - mountPath: /etc/nginx
      name: nginx-volume
    - mountPath: /config
      name: config
  volumes:
  - name: nginx-volume
    emptyDir: {}
  - name: config
    configMap:
      name: nginx-config
      items:
      - key: "nginx.conf"
        path: "nginx.conf"
`,
	"redis-secret.yaml": `apiVersion: v1
kind: Secret
metadata:
  name: redis-secret
data:
  redis-secret: U0VUIHNlY3JldCBmb29iYXIK
`,
	"flask-sidecar.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: flask-sidecar
spec:
  containers:
  - name: flask-app
    image: bharamicrosystems/flask-redis-secret
  - name: redis-sidecar
    image: bharamicrosystems/redis-secret
    volumeMounts:
    - mountPath: /redis-master
      name: secret
  volumes:
  - name: secret
    secret:
      secretName: redis-secret
      items:
      - key: redis-secret
        path: init.redis
`,
}
