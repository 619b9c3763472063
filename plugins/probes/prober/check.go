package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/skiffhq/skiff/sdk/probes"
)

type verdict int

const (
	success verdict = iota
	failure
	// unknown: the probe could not be run (the kubelet's prober error); the
	// state stays as it is.
	unknown
)

type outcome struct {
	verdict verdict
	message string
}

func failed(format string, args ...any) outcome {
	return outcome{verdict: failure, message: fmt.Sprintf(format, args...)}
}

// target is what a probe reaches.
type target struct {
	containerID string
	podIP       string
}

// userAgent is sent by httpGet probes that set none.
const userAgent = "skiff-probe/" + Version

// maxBody is how much of an HTTP response is read before closing it.
const maxBody = 10 << 10

// checker runs single probes.
type checker struct {
	http *http.Client
}

func newChecker() *checker {
	return &checker{http: &http.Client{
		Transport: &http.Transport{
			// Like the kubelet: a probe checks that the server answers,
			// not who it is.
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // see above
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// check runs p once against t, within p.Timeout.
func (c *checker) check(ctx context.Context, t target, p probes.Probe, host probes.Host) outcome {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	switch {
	case len(p.Exec) > 0:
		return checkExec(ctx, host, t.containerID, p.Exec, p.Timeout)
	case p.HTTPGet != nil:
		return c.checkHTTP(ctx, *p.HTTPGet, t.podIP)
	case p.TCPSocket != nil:
		return checkTCP(ctx, hostPort(p.TCPSocket.Host, t.podIP, p.TCPSocket.Port))
	case p.GRPC != nil:
		return checkGRPC(ctx, hostPort("", t.podIP, p.GRPC.Port), p.GRPC.Service, p.Timeout)
	}
	return outcome{verdict: unknown}
}

func hostPort(host, podIP string, port int) string {
	if host == "" {
		host = podIP
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func checkTCP(ctx context.Context, addr string) outcome {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return failed("%v", err)
	}
	_ = conn.Close()
	return outcome{verdict: success}
}

func (c *checker) checkHTTP(ctx context.Context, h probes.HTTPGet, podIP string) outcome {
	req, err := newHTTPRequest(ctx, h, podIP)
	if err != nil {
		return failed("%v", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return failed("%v", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	_ = resp.Body.Close()
	if resp.StatusCode < http.StatusOK || resp.StatusCode >= http.StatusBadRequest {
		return failed("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return outcome{verdict: success}
}

func newHTTPRequest(ctx context.Context, h probes.HTTPGet, podIP string) (*http.Request, error) {
	u, err := url.Parse(h.Path)
	if err != nil {
		u = &url.URL{Path: h.Path}
	}
	u.Scheme = strings.ToLower(h.Scheme)
	if u.Scheme == "" {
		u.Scheme = "http"
	}
	u.Host = hostPort(h.Host, podIP, h.Port)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")
	for k, v := range h.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	return req, nil
}

func checkGRPC(ctx context.Context, addr, service string, timeout time.Duration) outcome {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return failed("error: failed to connect service %q: %v", addr, err)
	}
	defer func() { _ = conn.Close() }()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		switch status.Code(err) {
		case codes.DeadlineExceeded:
			return failed("timeout: health rpc did not complete within %v", timeout)
		case codes.Unimplemented:
			return failed("error: this server does not implement the grpc health protocol (grpc.health.v1.Health): %s", status.Convert(err).Message())
		}
		return failed("error: health rpc probe failed: %v", err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return failed("service unhealthy (responded with %q)", s.String())
	}
	return outcome{verdict: success}
}

func checkExec(ctx context.Context, host probes.Host, containerID string, cmd []string, timeout time.Duration) outcome {
	if host == nil {
		return outcome{verdict: unknown}
	}
	code, out, err := host.Exec(ctx, containerID, cmd, timeout)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return failed("command %q timed out", strings.Join(cmd, " "))
	case err != nil:
		return outcome{verdict: unknown, message: err.Error()}
	case code != 0:
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return failed("%s", msg)
		}
		return failed("command %q exited with %d", strings.Join(cmd, " "), code)
	}
	return outcome{verdict: success}
}
