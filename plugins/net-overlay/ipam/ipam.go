// Package ipam is the net-overlay plugin's host-local address allocator: it
// hands out the addresses of one IPv4 subnet to owners (pod UIDs) and keeps
// its reservations as files, so they survive restarts of the plugin.
//
// Layout of the allocator's directory:
//
//	<dir>/lock              flock(2) held for every operation
//	<dir>/last_reserved     the address handed out last
//	<dir>/10.88.1.7         one file per reserved address; its content is the owner
//
// A reservation file is written in full under a temporary name and then
// hard-linked into place, so a crash never leaves a half-written one and two
// allocators on the same directory never hand out the same address.
//
// Addresses are handed out round-robin after the last one reserved, so a
// released address is not reused at once (stale ARP and conntrack entries
// of the old pod have time to expire). The network address, the first
// address (the gateway, the node's bridge) and the broadcast address are
// never handed out.
package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// ErrExhausted is returned when every address of the subnet is reserved.
var ErrExhausted = errors.New("no free address")

const (
	lockFile         = "lock"
	lastReservedFile = "last_reserved"
)

// Allocator reserves addresses of one subnet. It is safe for concurrent use,
// also by several Allocators (in one or more processes) on the same
// directory.
type Allocator struct {
	dir    string
	subnet netip.Prefix
	first  netip.Addr // first address handed out
	last   netip.Addr // last address handed out
	mu     sync.Mutex
}

// New returns an allocator for subnet that keeps its state in dir, creating
// dir if needed. The subnet must be an IPv4 network of at least 4 addresses.
func New(dir string, subnet netip.Prefix) (*Allocator, error) {
	if !subnet.IsValid() || !subnet.Addr().Is4() || subnet.Masked() != subnet {
		return nil, fmt.Errorf("ipam: subnet %q: not an IPv4 network address", subnet)
	}
	if subnet.Bits() > 30 {
		return nil, fmt.Errorf("ipam: subnet %s: too small, need at least a /30", subnet)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ipam: subnet %s: %w", subnet, err)
	}
	network := subnet.Addr()
	return &Allocator{
		dir:    dir,
		subnet: subnet,
		first:  network.Next().Next(),
		last:   broadcast(subnet).Prev(),
	}, nil
}

// Gateway is the subnet's first address, which the allocator never hands out.
func Gateway(subnet netip.Prefix) netip.Addr {
	return subnet.Masked().Addr().Next()
}

func broadcast(subnet netip.Prefix) netip.Addr {
	a := subnet.Addr().As4()
	hostBits := 32 - subnet.Bits()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= (1 << hostBits) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Subnet is the subnet the allocator hands out.
func (a *Allocator) Subnet() netip.Prefix { return a.subnet }

// Allocate reserves an address for owner and returns it. If owner already
// holds an address, that address is returned again. When every address is
// reserved the error wraps ErrExhausted.
func (a *Allocator) Allocate(owner string) (netip.Addr, error) {
	if err := checkOwner(owner); err != nil {
		return netip.Addr{}, err
	}
	var got netip.Addr
	err := a.locked(func() error {
		held, err := a.lookup(owner)
		if err != nil || held.IsValid() {
			got = held
			return err
		}
		got, err = a.reserveNext(owner)
		return err
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("ipam: subnet %s: owner %q: %w", a.subnet, owner, err)
	}
	return got, nil
}

// Lookup returns the address owner holds, or the zero Addr.
func (a *Allocator) Lookup(owner string) (netip.Addr, error) {
	var got netip.Addr
	err := a.locked(func() (err error) {
		got, err = a.lookup(owner)
		return err
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("ipam: subnet %s: owner %q: %w", a.subnet, owner, err)
	}
	return got, nil
}

// Release frees every address owner holds. Releasing an owner that holds
// nothing is not an error.
func (a *Allocator) Release(owner string) error {
	err := a.locked(func() error {
		return a.each(func(addr netip.Addr, o string) error {
			if o != owner {
				return nil
			}
			if err := os.Remove(a.path(addr)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("ipam: subnet %s: release owner %q: %w", a.subnet, owner, err)
	}
	return nil
}

// Reserved returns every reservation, address to owner.
func (a *Allocator) Reserved() (map[netip.Addr]string, error) {
	out := map[netip.Addr]string{}
	err := a.locked(func() error {
		return a.each(func(addr netip.Addr, owner string) error {
			out[addr] = owner
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ipam: subnet %s: %w", a.subnet, err)
	}
	return out, nil
}

func checkOwner(owner string) error {
	if owner == "" || strings.ContainsAny(owner, "\n\x00") {
		return fmt.Errorf("ipam: owner %q: must be non-empty and a single line", owner)
	}
	return nil
}

func (a *Allocator) path(addr netip.Addr) string {
	return filepath.Join(a.dir, addr.String())
}

// locked runs fn holding both the in-process mutex and the directory's
// flock.
func (a *Allocator) locked(fn func() error) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(a.dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	// Closing f (deferred above) releases the flock.
	return fn()
}

// each calls fn for every reservation file.
func (a *Allocator) each(fn func(addr netip.Addr, owner string) error) error {
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		addr, err := netip.ParseAddr(e.Name())
		if err != nil || !a.subnet.Contains(addr) {
			continue // lock, last_reserved, temporary files
		}
		data, err := os.ReadFile(a.path(addr))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := fn(addr, strings.TrimSpace(string(data))); err != nil {
			return err
		}
	}
	return nil
}

func (a *Allocator) lookup(owner string) (netip.Addr, error) {
	var found netip.Addr
	err := a.each(func(addr netip.Addr, o string) error {
		if o == owner && !found.IsValid() {
			found = addr
		}
		return nil
	})
	return found, err
}

// reserveNext reserves the first free address after the last one reserved,
// wrapping around the range once.
func (a *Allocator) reserveNext(owner string) (netip.Addr, error) {
	start := a.startAfter(a.lastReserved())
	addr := start
	for {
		ok, err := a.reserve(addr, owner)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("reserve %s: %w", addr, err)
		}
		if ok {
			a.setLastReserved(addr)
			return addr, nil
		}
		addr = a.startAfter(addr)
		if addr == start {
			return netip.Addr{}, ErrExhausted
		}
	}
}

// startAfter is the address after prev in the range, wrapping to the first.
func (a *Allocator) startAfter(prev netip.Addr) netip.Addr {
	if !prev.IsValid() || !a.inRange(prev) || prev == a.last {
		return a.first
	}
	return prev.Next()
}

func (a *Allocator) inRange(addr netip.Addr) bool {
	return addr.Compare(a.first) >= 0 && addr.Compare(a.last) <= 0
}

// reserve writes the reservation file for addr; false if addr is taken.
func (a *Allocator) reserve(addr netip.Addr, owner string) (bool, error) {
	tmp, err := os.CreateTemp(a.dir, ".reserve-*")
	if err != nil {
		return false, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(owner + "\n"); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	err = os.Link(tmp.Name(), a.path(addr))
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	return err == nil, err
}

func (a *Allocator) lastReserved() netip.Addr {
	data, err := os.ReadFile(filepath.Join(a.dir, lastReservedFile))
	if err != nil {
		return netip.Addr{}
	}
	addr, err := netip.ParseAddr(strings.TrimSpace(string(data)))
	if err != nil {
		return netip.Addr{}
	}
	return addr
}

// setLastReserved records addr as the round-robin position. It is only a
// hint, so failing to write it is not an error.
func (a *Allocator) setLastReserved(addr netip.Addr) {
	_ = os.WriteFile(filepath.Join(a.dir, lastReservedFile), []byte(addr.String()+"\n"), 0o600)
}
