package base

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var errThing = NewError("test.Thing", codes.FailedPrecondition, "thing went wrong")

func TestSentinelsSurviveTheWire(t *testing.T) {
	err := fmt.Errorf("container %q: %w", "web", errThing)
	wire := ToStatus(err)
	if st, _ := status.FromError(wire); st.Code() != codes.FailedPrecondition {
		t.Fatalf("code = %v", st.Code())
	}
	back := FromStatus(wire)
	if !errors.Is(back, errThing) {
		t.Errorf("errors.Is lost across the wire: %v", back)
	}
	if errors.Is(back, ErrNotFound) {
		t.Error("rebuilt error matches an unrelated sentinel")
	}
	if back.Error() != `container "web": thing went wrong` {
		t.Errorf("message = %q", back.Error())
	}
}

func TestPlainStatusesMapToSentinels(t *testing.T) {
	for code, want := range map[codes.Code]error{
		codes.NotFound: ErrNotFound, codes.Unavailable: ErrUnavailable, codes.Unimplemented: ErrUnsupported,
		codes.InvalidArgument: ErrInvalid, codes.DeadlineExceeded: context.DeadlineExceeded, codes.Canceled: context.Canceled,
	} {
		if got := FromStatus(status.Error(code, "x")); !errors.Is(got, want) {
			t.Errorf("%v: %v does not match %v", code, got, want)
		}
	}
	if ToStatus(nil) != nil || FromStatus(nil) != nil {
		t.Error("nil is not kept nil")
	}
	if st, _ := status.FromError(ToStatus(context.DeadlineExceeded)); st.Code() != codes.DeadlineExceeded {
		t.Errorf("deadline maps to %v", st.Code())
	}
}

func TestValidateSettings(t *testing.T) {
	specs := []SettingSpec{{Name: "address", Required: true, Description: "the socket"}, {Name: "namespace", Default: "skiff"}}
	got, err := ValidateSettings(specs, map[string]string{"address": "/run/x.sock"})
	if err != nil || got["namespace"] != "skiff" || got["address"] != "/run/x.sock" {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := ValidateSettings(specs, map[string]string{"address": "a", "colour": "blue"}); err == nil || !strings.Contains(err.Error(), `setting "colour": unknown`) || !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown setting: %v", err)
	}
	if _, err := ValidateSettings(specs, nil); err == nil || !strings.Contains(err.Error(), `setting "address": required`) {
		t.Errorf("missing required setting: %v", err)
	}
}
