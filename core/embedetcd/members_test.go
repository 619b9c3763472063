package embedetcd

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A running cluster takes a new member (it starts with the initial cluster
// AddMember returns and state "existing") and lets one go; the refusals
// name the member and the reason.
func TestAddAndRemoveMembers(t *testing.T) {
	_, opts := testCluster(t, 2)
	m0URL := strings.Split(strings.Split(opts[0].InitialCluster, ",")[0], "=")[1]
	m1URL := strings.Split(strings.Split(opts[1].InitialCluster, ",")[1], "=")[1]
	opts[0].InitialCluster = "m0=" + m0URL // a cluster of one, to begin with
	m0, err := StartWith(context.Background(), opts[0])
	if err != nil {
		t.Fatal(err)
	}
	defer m0.Close()
	put(t, m0, "/test/before", "1")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct{ name, url, want string }{
		{"m0", "https://127.0.0.1:1", `member "m0": a member of that name exists`},
		{"m9", m0URL, `member "m9": member "m0"`},
		{"bad name", "https://127.0.0.1:1", "name may contain only"},
		{"", "https://127.0.0.1:1", "name is empty"},
		{"m9", "http://127.0.0.1:1", "want https://IP:PORT"},
	} {
		if _, _, err := AddMember(ctx, m0.Client, tc.name, tc.url); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("add %q %s: %v, want %q", tc.name, tc.url, err, tc.want)
		}
	}

	added, initial, err := AddMember(ctx, m0.Client, "m1", m1URL)
	if err != nil {
		t.Fatal(err)
	}
	if want := "m0=" + m0URL + ",m1=" + m1URL; initial != want && initial != "m1="+m1URL+",m0="+m0URL {
		t.Errorf("initial cluster %q, want %q", initial, want)
	}
	if !added.IsLearner {
		t.Error("the new member was added as a voting member: the cluster's quorum would wait for it")
	}
	put(t, m0, "/test/while-added", "1") // a learner does not count in the quorum
	if _, _, err := AddMember(ctx, m0.Client, "m2", "https://127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "was added but has not started") {
		t.Errorf("add while an added member has not started: %v", err)
	}
	opts[1].InitialCluster, opts[1].ClusterState = initial, ClusterStateExisting
	m1, err := StartWith(context.Background(), opts[1])
	if err != nil {
		t.Fatalf("start the added member: %v", err)
	}
	defer m1.Close()
	if got := get(t, m1, "/test/before"); got != "1" {
		t.Errorf("the added member reads %q, want 1", got)
	}
	put(t, m1, "/test/after", "2")
	if got := get(t, m0, "/test/after"); got != "2" {
		t.Errorf("read through m0 = %q, want 2", got)
	}
	if m1.MemberID() != added.ID {
		t.Errorf("the started member is %x, AddMember said %x", m1.MemberID(), added.ID)
	}
	list, err := m0.Client.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list.Members {
		if m.IsLearner {
			t.Errorf("member %s is still a learner after it started", m.Name)
		}
	}

	if _, err := RemoveMember(ctx, m0.Client, "m0", m0.MemberID()); err == nil || !strings.Contains(err.Error(), "answering this request") {
		t.Errorf("remove the answering member: %v", err)
	}
	if _, err := RemoveMember(ctx, m0.Client, "m7", m0.MemberID()); err == nil || !strings.Contains(err.Error(), "not found (members: m0, m1)") &&
		!strings.Contains(err.Error(), "not found (members: m1, m0)") {
		t.Errorf("remove an unknown member: %v", err)
	}
	// etcd refuses while a member has been connected for less than 5s.
	removed, err := RemoveMember(ctx, m0.Client, strconv.FormatUint(added.ID, 16), m0.MemberID())
	for deadline := time.Now().Add(15 * time.Second); err != nil && strings.Contains(err.Error(), "unhealthy cluster") && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		removed, err = RemoveMember(ctx, m0.Client, strconv.FormatUint(added.ID, 16), m0.MemberID())
	}
	if err != nil || removed.Name != "m1" {
		t.Fatalf("remove m1 by ID: %+v, %v", removed, err)
	}
	list, err = m0.Client.MemberList(ctx)
	if err != nil || len(list.Members) != 1 || list.Members[0].Name != "m0" {
		t.Fatalf("members after the removal: %v, %v", list, err)
	}
	put(t, m0, "/test/alone", "3") // a quorum of one again
	if _, err := RemoveMember(ctx, m0.Client, "m0", 0); err == nil || !strings.Contains(err.Error(), "only member") {
		t.Errorf("remove the last member: %v", err)
	}
}

func TestClusterStateOption(t *testing.T) {
	if err := (Options{Dir: "d", ClusterState: "old"}).Validate(); err == nil || !strings.Contains(err.Error(), `initial cluster state "old"`) {
		t.Errorf("bad state: %v", err)
	}
	if err := (Options{Dir: "d", ClusterState: ClusterStateExisting}).Validate(); err == nil || !strings.Contains(err.Error(), "needs a member name") {
		t.Errorf("existing without a cluster: %v", err)
	}
}
