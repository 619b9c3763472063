// Package api holds what the server and its clients share about the wire:
// the generated gRPC code (apipb), how Kubernetes API errors cross it, and
// the resource names.
package api

import (
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var reasonCodes = map[metav1.StatusReason]codes.Code{
	metav1.StatusReasonNotFound:           codes.NotFound,
	metav1.StatusReasonAlreadyExists:      codes.AlreadyExists,
	metav1.StatusReasonConflict:           codes.Aborted,
	metav1.StatusReasonInvalid:            codes.InvalidArgument,
	metav1.StatusReasonBadRequest:         codes.InvalidArgument,
	metav1.StatusReasonForbidden:          codes.PermissionDenied,
	metav1.StatusReasonUnauthorized:       codes.Unauthenticated,
	metav1.StatusReasonServiceUnavailable: codes.Unavailable,
	metav1.StatusReasonTimeout:            codes.DeadlineExceeded,
}

// ToGRPC turns a server-side error into a gRPC status. Kubernetes API errors
// keep their reason (through the code) and message.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		code, ok := reasonCodes[st.Reason]
		if !ok {
			code = codes.Internal
		}
		if st.Reason == metav1.StatusReasonBadRequest {
			return status.Error(code, "BadRequest: "+st.Message)
		}
		return status.Error(code, st.Message)
	}
	return status.Error(codes.Internal, err.Error())
}

// FromGRPC turns a gRPC status from the server back into a Kubernetes API
// error, so callers can use apierrors.IsNotFound and friends.
func FromGRPC(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	if msg, ok := strings.CutPrefix(st.Message(), "BadRequest: "); ok && st.Code() == codes.InvalidArgument {
		return apierrors.NewBadRequest(msg)
	}
	for reason, code := range reasonCodes {
		if code == st.Code() && reason != metav1.StatusReasonBadRequest {
			return &apierrors.StatusError{ErrStatus: metav1.Status{
				Status:  metav1.StatusFailure,
				Reason:  reason,
				Message: st.Message(),
				Code:    httpCode(reason),
			}}
		}
	}
	return errors.New(st.Message())
}

func httpCode(r metav1.StatusReason) int32 {
	switch r {
	case metav1.StatusReasonNotFound:
		return 404
	case metav1.StatusReasonAlreadyExists, metav1.StatusReasonConflict:
		return 409
	case metav1.StatusReasonInvalid:
		return 422
	case metav1.StatusReasonForbidden:
		return 403
	case metav1.StatusReasonUnauthorized:
		return 401
	case metav1.StatusReasonServiceUnavailable:
		return 503
	case metav1.StatusReasonTimeout:
		return 504
	}
	return 500
}
