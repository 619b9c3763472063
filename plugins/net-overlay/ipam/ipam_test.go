package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func newTestAllocator(t *testing.T, dir, cidr string) *Allocator {
	t.Helper()
	a, err := New(dir, netip.MustParsePrefix(cidr))
	if err != nil {
		t.Fatalf("New(%s): %v", cidr, err)
	}
	return a
}

func TestNewRejectsBadSubnets(t *testing.T) {
	for _, cidr := range []string{"10.0.0.5/28", "10.0.0.0/31", "10.0.0.0/32", "fd00::/64"} {
		if _, err := New(t.TempDir(), netip.MustParsePrefix(cidr)); err == nil {
			t.Errorf("New(%s): want error, got nil", cidr)
		}
	}
	if _, err := New(t.TempDir(), netip.Prefix{}); err == nil {
		t.Error("New(zero prefix): want error, got nil")
	}
}

func TestGateway(t *testing.T) {
	if got, want := Gateway(netip.MustParsePrefix("10.88.1.0/24")), netip.MustParseAddr("10.88.1.1"); got != want {
		t.Errorf("Gateway = %s, want %s", got, want)
	}
}

func TestAllocateSkipsReservedAddresses(t *testing.T) {
	a := newTestAllocator(t, t.TempDir(), "10.199.0.16/28")
	seen := map[netip.Addr]bool{}
	for i := range 13 {
		addr, err := a.Allocate(fmt.Sprintf("pod-%d", i))
		if err != nil {
			t.Fatalf("Allocate #%d: %v", i, err)
		}
		if seen[addr] {
			t.Fatalf("Allocate #%d: %s handed out twice", i, addr)
		}
		seen[addr] = true
		switch addr.String() {
		case "10.199.0.16", "10.199.0.17", "10.199.0.31":
			t.Fatalf("Allocate #%d: handed out network, gateway or broadcast address %s", i, addr)
		}
		if !a.Subnet().Contains(addr) {
			t.Fatalf("Allocate #%d: %s outside %s", i, addr, a.Subnet())
		}
	}
	if first := netip.MustParseAddr("10.199.0.18"); !seen[first] {
		t.Errorf("first usable address %s never handed out", first)
	}
}

func TestAllocateIsIdempotentPerOwner(t *testing.T) {
	a := newTestAllocator(t, t.TempDir(), "10.199.0.0/24")
	first, err := a.Allocate("uid-a")
	if err != nil {
		t.Fatal(err)
	}
	again, err := a.Allocate("uid-a")
	if err != nil {
		t.Fatal(err)
	}
	if first != again {
		t.Errorf("second Allocate for the same owner = %s, want %s", again, first)
	}
	other, err := a.Allocate("uid-b")
	if err != nil {
		t.Fatal(err)
	}
	if other == first {
		t.Errorf("two owners got the same address %s", other)
	}
}

func TestExhaustionAndRelease(t *testing.T) {
	a := newTestAllocator(t, t.TempDir(), "10.199.0.0/29") // 5 usable
	for i := range 5 {
		if _, err := a.Allocate(fmt.Sprintf("pod-%d", i)); err != nil {
			t.Fatalf("Allocate #%d: %v", i, err)
		}
	}
	_, err := a.Allocate("one-too-many")
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("Allocate on a full subnet: err = %v, want ErrExhausted", err)
	}
	held, err := a.Lookup("pod-2")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Release("pod-2"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if got, err := a.Lookup("pod-2"); err != nil || got.IsValid() {
		t.Fatalf("Lookup after Release = %v, %v; want no address", got, err)
	}
	got, err := a.Allocate("newcomer")
	if err != nil {
		t.Fatalf("Allocate after Release: %v", err)
	}
	if got != held {
		t.Errorf("Allocate after Release = %s, want the released %s", got, held)
	}
}

func TestReleaseUnknownOwnerIsNoop(t *testing.T) {
	a := newTestAllocator(t, t.TempDir(), "10.199.0.0/28")
	if err := a.Release("nobody"); err != nil {
		t.Fatalf("Release(unknown) = %v, want nil", err)
	}
}

func TestRoundRobinDoesNotReuseAtOnce(t *testing.T) {
	a := newTestAllocator(t, t.TempDir(), "10.199.0.0/28")
	first, err := a.Allocate("a")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Release("a"); err != nil {
		t.Fatal(err)
	}
	second, err := a.Allocate("b")
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Errorf("released %s handed out again at once", first)
	}
}

func TestReuseCycleNeverExhausts(t *testing.T) {
	a := newTestAllocator(t, t.TempDir(), "10.199.0.0/28")
	for i := range 100 {
		owner := fmt.Sprintf("pod-%d", i)
		if _, err := a.Allocate(owner); err != nil {
			t.Fatalf("cycle %d: Allocate: %v", i, err)
		}
		if err := a.Release(owner); err != nil {
			t.Fatalf("cycle %d: Release: %v", i, err)
		}
	}
}

func TestPersistenceAcrossAllocators(t *testing.T) {
	dir := t.TempDir()
	a := newTestAllocator(t, dir, "10.199.0.0/28")
	held, err := a.Allocate("survivor")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Allocate("released"); err != nil {
		t.Fatal(err)
	}
	if err := a.Release("released"); err != nil {
		t.Fatal(err)
	}

	b := newTestAllocator(t, dir, "10.199.0.0/28")
	got, err := b.Lookup("survivor")
	if err != nil {
		t.Fatal(err)
	}
	if got != held {
		t.Errorf("new allocator: Lookup(survivor) = %v, want %s", got, held)
	}
	if again, err := b.Allocate("survivor"); err != nil || again != held {
		t.Errorf("new allocator: Allocate(survivor) = %v, %v; want %s", again, err, held)
	}
	next, err := b.Allocate("newcomer")
	if err != nil {
		t.Fatal(err)
	}
	if next == held {
		t.Errorf("new allocator handed out %s, which survivor holds", next)
	}
	reserved, err := b.Reserved()
	if err != nil {
		t.Fatal(err)
	}
	if len(reserved) != 2 || reserved[held] != "survivor" || reserved[next] != "newcomer" {
		t.Errorf("Reserved = %v, want survivor at %s and newcomer at %s", reserved, held, next)
	}
}

func TestConcurrentAllocatorsOnOneDirectory(t *testing.T) {
	dir := t.TempDir()
	allocs := []*Allocator{newTestAllocator(t, dir, "10.199.0.0/27"), newTestAllocator(t, dir, "10.199.0.0/27")}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		owner = map[netip.Addr]string{}
		errs  []error
	)
	for i := range 29 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("pod-%d", i)
			addr, err := allocs[i%2].Allocate(name)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			if prev, dup := owner[addr]; dup {
				errs = append(errs, fmt.Errorf("%s handed to both %s and %s", addr, prev, name))
			}
			owner[addr] = name
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
}

func TestIgnoresForeignFiles(t *testing.T) {
	dir := t.TempDir()
	a := newTestAllocator(t, dir, "10.199.0.0/28")
	// An address of another subnet and stray files must not count.
	for _, name := range []string{"10.200.0.2", "README", ".reserve-123"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reserved, err := a.Reserved()
	if err != nil {
		t.Fatal(err)
	}
	if len(reserved) != 0 {
		t.Errorf("Reserved = %v, want none", reserved)
	}
}

func TestRejectsBadOwner(t *testing.T) {
	a := newTestAllocator(t, t.TempDir(), "10.199.0.0/28")
	for _, owner := range []string{"", "two\nlines"} {
		if _, err := a.Allocate(owner); err == nil {
			t.Errorf("Allocate(%q): want error", owner)
		}
	}
}

// TestThousandsOfCyclesLeakNothing allocates and releases 3000 times in a
// /24 with up to 10 addresses held at once, as pods come and go, and
// expects nothing reserved at the end and every address used on the way
// (round robin).
func TestThousandsOfCyclesLeakNothing(t *testing.T) {
	dir := fastTempDir(t)
	a := newTestAllocator(t, dir, "10.199.0.0/24")
	const cycles, window = 3000, 10
	seen := map[netip.Addr]bool{}
	start := time.Now()
	for i := range cycles + window {
		if i < cycles {
			addr, err := a.Allocate(fmt.Sprintf("pod-%d", i))
			if err != nil {
				t.Fatalf("cycle %d: Allocate: %v", i, err)
			}
			seen[addr] = true
		}
		if i >= window {
			if err := a.Release(fmt.Sprintf("pod-%d", i-window)); err != nil {
				t.Fatalf("cycle %d: Release: %v", i, err)
			}
		}
	}
	elapsed := time.Since(start)
	t.Logf("%d allocate/release cycles in %v (%v per cycle)", cycles, elapsed, elapsed/cycles)
	if held, err := a.Reserved(); err != nil || len(held) != 0 {
		t.Errorf("after %d cycles, %d addresses still reserved (err %v)", cycles, len(held), err)
	}
	if len(seen) != 253 {
		t.Errorf("%d distinct addresses handed out, want all 253 of the /24", len(seen))
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != lockFile && e.Name() != lastReservedFile {
			t.Errorf("left in the allocator's directory: %s", e.Name())
		}
	}
}

// fastTempDir is a temporary directory on tmpfs when /dev/shm is one, so
// thousands of reservations do not wait for thousands of disk syncs: the
// test is about the allocator's bookkeeping, not the disk.
func fastTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "skiff-ipam-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
