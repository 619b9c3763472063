package conformance

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"
)

// Probes the service and DNS checks run from inside pods.

// serveName listens on addr:port (TCP) inside nsPath and writes name to
// every connection, then closes it.
func serveName(nsPath string, addr netip.Addr, port int, name string) (net.Listener, error) {
	var ln net.Listener
	err := inNetNS(nsPath, func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(addr, uint16(port)).String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s:%d in %s: %w", addr, port, nsPath, err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, name)
			c.Close()
		}
	}()
	return ln, nil
}

// serveNameUDP answers every datagram on addr:port (UDP) inside nsPath
// with name.
func serveNameUDP(nsPath string, addr netip.Addr, port int, name string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := inNetNS(nsPath, func() (err error) {
		pc, err = net.ListenPacket("udp4", netip.AddrPortFrom(addr, uint16(port)).String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on udp %s:%d in %s: %w", addr, port, nsPath, err)
	}
	go func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo([]byte(name), from)
		}
	}()
	return pc, nil
}

// fetchName connects to addr from inside nsPath and reads what the server
// writes.
func fetchName(nsPath string, addr netip.AddrPort) (string, error) {
	conn, err := dialFrom(nsPath, net.TCPAddrFromAddrPort(addr))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(conn)
	return string(b), err
}

// sendDF sends one UDP datagram of size bytes (payload) with the don't
// fragment bit from inside nsPath to addr.
func sendDF(nsPath string, addr netip.AddrPort, size int) error {
	var conn *net.UDPConn
	err := inNetNS(nsPath, func() error {
		c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return err
		}
		conn = c
		raw, err := c.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := raw.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
		}); err != nil {
			return err
		}
		return serr
	})
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return err
	}
	defer conn.Close()
	_, err = conn.Write(make([]byte, size))
	return err
}

// dnsAnswer is what a DNS query returned.
type dnsAnswer struct {
	rcode dnsmessage.RCode
	ips   []netip.Addr
}

// queryA asks server (port 53) for name's A records from inside nsPath,
// over UDP or TCP.
func queryA(nsPath string, server netip.Addr, name string, tcp bool) (dnsAnswer, error) {
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := binary.BigEndian.Uint16(idb[:])
	qname, err := dnsmessage.NewName(name)
	if err != nil {
		return dnsAnswer{}, err
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: qname, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	query, err := b.Finish()
	if err != nil {
		return dnsAnswer{}, err
	}
	network := "udp4"
	if tcp {
		network = "tcp4"
	}
	var conn net.Conn
	err = inNetNS(nsPath, func() (err error) {
		conn, err = net.DialTimeout(network, netip.AddrPortFrom(server, 53).String(), 5*time.Second)
		return err
	})
	if err != nil {
		return dnsAnswer{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var resp []byte
	if tcp {
		msg := binary.BigEndian.AppendUint16(nil, uint16(len(query)))
		if _, err := conn.Write(append(msg, query...)); err != nil {
			return dnsAnswer{}, err
		}
		var n [2]byte
		if _, err := io.ReadFull(conn, n[:]); err != nil {
			return dnsAnswer{}, err
		}
		resp = make([]byte, binary.BigEndian.Uint16(n[:]))
		if _, err := io.ReadFull(conn, resp); err != nil {
			return dnsAnswer{}, err
		}
	} else {
		if _, err := conn.Write(query); err != nil {
			return dnsAnswer{}, err
		}
		resp = make([]byte, 65535)
		n, err := conn.Read(resp)
		if err != nil {
			return dnsAnswer{}, err
		}
		resp = resp[:n]
	}
	var p dnsmessage.Parser
	h, err := p.Start(resp)
	if err != nil {
		return dnsAnswer{}, fmt.Errorf("parse answer: %w", err)
	}
	if h.ID != id || !h.Response {
		return dnsAnswer{}, fmt.Errorf("answer has ID %d (want %d), response bit %v", h.ID, id, h.Response)
	}
	ans := dnsAnswer{rcode: h.RCode}
	if err := p.SkipAllQuestions(); err != nil {
		return dnsAnswer{}, err
	}
	for {
		ah, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return dnsAnswer{}, err
		}
		if ah.Type != dnsmessage.TypeA {
			if err := p.SkipAnswer(); err != nil {
				return dnsAnswer{}, err
			}
			continue
		}
		a, err := p.AResource()
		if err != nil {
			return dnsAnswer{}, err
		}
		ans.ips = append(ans.ips, netip.AddrFrom4(a.A))
	}
	return ans, nil
}
