package containerdruntime

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/skiffhq/skiff/sdk/base"
	"github.com/skiffhq/skiff/sdk/runtime"
)

func TestCheckRunAsNonRoot(t *testing.T) {
	uid := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name      string
		sec       runtime.SecurityConfig
		imageUser string
		refuse    string // part of the message; "" when allowed
	}{
		{"not asked", runtime.SecurityConfig{}, "", ""},
		{"image root by default", runtime.SecurityConfig{RunAsNonRoot: true}, "", "image will run as root"},
		{"image uid 0", runtime.SecurityConfig{RunAsNonRoot: true}, "0:0", "image will run as root"},
		{"image root by name", runtime.SecurityConfig{RunAsNonRoot: true}, "root", "image will run as root"},
		{"image numeric user", runtime.SecurityConfig{RunAsNonRoot: true}, "1000:1000", ""},
		{"image user name", runtime.SecurityConfig{RunAsNonRoot: true}, "app", "image has non-numeric user (app), cannot verify user is non-root"},
		{"image user name with group", runtime.SecurityConfig{RunAsNonRoot: true}, "app:staff", "non-numeric user (app)"},
		{"runAsUser overrides a name", runtime.SecurityConfig{RunAsNonRoot: true, RunAsUser: uid(1000)}, "app", ""},
		{"runAsUser 0", runtime.SecurityConfig{RunAsNonRoot: true, RunAsUser: uid(0)}, "1000", "runAsUser breaks non-root policy"},
	} {
		err := checkRunAsNonRoot(tc.sec, tc.imageUser)
		switch {
		case tc.refuse == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.refuse != "" && (!errors.Is(err, runtime.ErrRunAsRoot) || !strings.Contains(err.Error(), tc.refuse)):
			t.Errorf("%s: got %v, want runtime.ErrRunAsRoot saying %q", tc.name, err, tc.refuse)
		}
	}
}

func TestUserString(t *testing.T) {
	v := func(n int64) *int64 { return &n }
	for _, tc := range []struct {
		sec       runtime.SecurityConfig
		imageUser string
		want      string
	}{
		{runtime.SecurityConfig{}, "app", ""},
		{runtime.SecurityConfig{RunAsUser: v(1000)}, "app", "1000"},
		{runtime.SecurityConfig{RunAsUser: v(1000), RunAsGroup: v(3000)}, "", "1000:3000"},
		{runtime.SecurityConfig{RunAsGroup: v(3000)}, "app:staff", "app:3000"},
		{runtime.SecurityConfig{RunAsGroup: v(3000)}, "", "0:3000"},
	} {
		got, err := userString(tc.sec, tc.imageUser)
		if err != nil || got != tc.want {
			t.Errorf("userString(%+v, %q) = %q, %v; want %q", tc.sec, tc.imageUser, got, err, tc.want)
		}
	}
	if _, err := userString(runtime.SecurityConfig{RunAsUser: v(-1)}, ""); !errors.Is(err, base.ErrInvalid) {
		t.Errorf("a negative runAsUser: %v, want base.ErrInvalid", err)
	}
	if _, err := userString(runtime.SecurityConfig{RunAsGroup: v(1 << 40)}, ""); !errors.Is(err, base.ErrInvalid) {
		t.Errorf("a huge runAsGroup: %v, want base.ErrInvalid", err)
	}
}

func TestNormalizeCaps(t *testing.T) {
	caps, all, err := normalizeCaps([]string{"net_admin", "CAP_SYS_TIME", "NET_ADMIN", "all"})
	if err != nil || !all || !slices.Equal(caps, []string{"CAP_NET_ADMIN", "CAP_SYS_TIME"}) {
		t.Errorf("normalizeCaps = %q, all %v, %v", caps, all, err)
	}
	if _, _, err := normalizeCaps([]string{"FLY"}); !errors.Is(err, base.ErrInvalid) {
		t.Errorf("an unknown capability: %v, want base.ErrInvalid", err)
	}
	if _, err := securityOpts(runtime.SecurityConfig{CapAdd: []string{"FLY"}}, ""); !errors.Is(err, base.ErrInvalid) {
		t.Errorf("securityOpts with an unknown capability: %v, want base.ErrInvalid", err)
	}
}
