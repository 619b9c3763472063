package registry

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"maps"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/skiffhq/skiff/core/api"
)

var secretSupported = newSupportedFields(append([]string{
	"data.*", "stringData.*", "type", "immutable",
}, metaFields...)...)

// SecretStrategy is the secrets resource. Types Opaque and
// bootstrap.kubernetes.io/token (bootstrap tokens, below) are served; the
// API server encrypts secrets before they reach etcd (see apiserver).
type SecretStrategy struct{}

func (SecretStrategy) Resource() api.Resource { return api.Secrets }
func (SecretStrategy) New() Object            { return &corev1.Secret{} }

func (SecretStrategy) Decode(data []byte) (Object, error) {
	return decodeTyped[corev1.Secret]("Secret", data, secretSupported)
}

func (SecretStrategy) PrepareForCreate(obj Object) {
	s := obj.(*corev1.Secret)
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	mergeStringData(s)
}

// mergeStringData moves stringData into data, as Kubernetes does on write:
// stringData is write-only and wins over data for the same key.
func mergeStringData(s *corev1.Secret) {
	if len(s.StringData) == 0 {
		s.StringData = nil
		return
	}
	if s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}

func (SecretStrategy) Validate(obj Object) field.ErrorList {
	s := obj.(*corev1.Secret)
	errs := ValidateMeta(s, true, validation.IsDNS1123Subdomain)
	switch s.Type {
	case corev1.SecretTypeOpaque:
	case corev1.SecretTypeBootstrapToken:
		errs = append(errs, validateBootstrapToken(s)...)
	default:
		errs = append(errs, &field.Error{Type: field.ErrorTypeNotSupported, Field: "type", BadValue: string(s.Type),
			Detail: fmt.Sprintf("not supported by skiff (supported values: %q, %q)", corev1.SecretTypeOpaque, corev1.SecretTypeBootstrapToken)})
	}
	size := 0
	for _, k := range sortedKeys(s.Data) {
		errs = append(errs, validateDataKey(field.NewPath("data").Key(k), k)...)
		size += len(s.Data[k])
	}
	return append(errs, validateDataSize(size)...)
}

func (SecretStrategy) PrepareForUpdate(obj, old Object, subresource string) error {
	if subresource != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("secrets: unknown subresource %q", subresource))
	}
	s := obj.(*corev1.Secret)
	KeepMetaOnUpdate(s, old)
	if s.Type == "" {
		s.Type = old.(*corev1.Secret).Type
	}
	mergeStringData(s)
	return nil
}

func (st SecretStrategy) ValidateUpdate(obj, old Object) field.ErrorList {
	s, oldS := obj.(*corev1.Secret), old.(*corev1.Secret)
	errs := st.Validate(s)
	if s.Type != oldS.Type {
		errs = append(errs, field.Invalid(field.NewPath("type"), s.Type, "field is immutable"))
	}
	if isTrue(oldS.Immutable) {
		if !isTrue(s.Immutable) {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !maps.EqualFunc(s.Data, oldS.Data, bytes.Equal) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
		}
	}
	return errs
}

func (SecretStrategy) Fields(obj Object) fields.Set {
	s := obj.(*corev1.Secret)
	return fields.Set{"metadata.name": s.Name, "metadata.namespace": s.Namespace, "type": string(s.Type)}
}

// Bootstrap tokens, in kubeadm's format: a token "<id>.<secret>" is the
// Secret kube-system/bootstrap-token-<id> of type
// bootstrap.kubernetes.io/token. The names and patterns are those of
// Kubernetes' k8s.io/cluster-bootstrap/token/api/types.go, which skiff does
// not import; this is their one place in skiff.
const (
	// BootstrapTokenNamespace holds the token secrets.
	BootstrapTokenNamespace = metav1.NamespaceSystem
	// BootstrapTokenSecretPrefix + token id is the secret's name.
	BootstrapTokenSecretPrefix = "bootstrap-token-"
	// BootstrapTokenIDKey is the data key of the token id (public).
	BootstrapTokenIDKey = "token-id"
	// BootstrapTokenSecretKey is the data key of the token secret.
	BootstrapTokenSecretKey = "token-secret"
	// BootstrapTokenExpirationKey is the optional expiry, RFC3339.
	BootstrapTokenExpirationKey = "expiration"
	// BootstrapTokenDescriptionKey is an optional human description.
	BootstrapTokenDescriptionKey = "description"
	// BootstrapTokenUsagePrefix starts the usage keys ("true" enables one).
	BootstrapTokenUsagePrefix = "usage-bootstrap-"
	// BootstrapTokenUsageAuthentication lets the token authenticate: in
	// skiff, join a node.
	BootstrapTokenUsageAuthentication = BootstrapTokenUsagePrefix + "authentication"
)

var (
	bootstrapTokenRE       = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)
	bootstrapTokenIDRE     = regexp.MustCompile(`^[a-z0-9]{6}$`)
	bootstrapTokenSecretRE = regexp.MustCompile(`^[a-z0-9]{16}$`)
)

// BootstrapTokenSecretName is the name of the secret of token id id.
func BootstrapTokenSecretName(id string) string { return BootstrapTokenSecretPrefix + id }

// IsBootstrapTokenID tells whether id has the form of a token id.
func IsBootstrapTokenID(id string) bool { return bootstrapTokenIDRE.MatchString(id) }

// ParseBootstrapToken splits "<id>.<secret>". The error never holds the
// token (it may be a real one with a typo).
func ParseBootstrapToken(token string) (id, secret string, err error) {
	m := bootstrapTokenRE.FindStringSubmatch(token)
	if m == nil {
		return "", "", fmt.Errorf("malformed bootstrap token: want [a-z0-9]{6}.[a-z0-9]{16}")
	}
	return m[1], m[2], nil
}

// GenerateBootstrapToken makes a random token, as kubeadm's.
func GenerateBootstrapToken() string {
	return randomTokenPart(6) + "." + randomTokenPart(16)
}

func randomTokenPart(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	// Bytes at or above 252 (7*36) are skipped so every character is
	// equally likely.
	out := make([]byte, 0, n)
	buf := make([]byte, 2*n)
	for len(out) < n {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails (Go 1.24+)
		for _, b := range buf {
			if b < 252 && len(out) < n {
				out = append(out, alphabet[b%36])
			}
		}
	}
	return string(out)
}

// NewBootstrapTokenSecret is the secret of token, usable to join nodes,
// expiring ttl after now (never when ttl is 0).
func NewBootstrapTokenSecret(token string, ttl time.Duration, description string, now time.Time) (*corev1.Secret, error) {
	id, secret, err := ParseBootstrapToken(token)
	if err != nil {
		return nil, err
	}
	if ttl < 0 {
		return nil, fmt.Errorf("bootstrap token %q: negative TTL %s", id, ttl)
	}
	data := map[string][]byte{
		BootstrapTokenIDKey:               []byte(id),
		BootstrapTokenSecretKey:           []byte(secret),
		BootstrapTokenUsageAuthentication: []byte("true"),
	}
	if ttl > 0 {
		data[BootstrapTokenExpirationKey] = []byte(now.Add(ttl).UTC().Format(time.RFC3339))
	}
	if description != "" {
		data[BootstrapTokenDescriptionKey] = []byte(description)
	}
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: BootstrapTokenSecretName(id), Namespace: BootstrapTokenNamespace},
		Type:       corev1.SecretTypeBootstrapToken,
		Data:       data,
	}, nil
}

// BootstrapTokenExpiration is the secret's expiry; ok is false when it has
// none.
func BootstrapTokenExpiration(s *corev1.Secret) (t time.Time, ok bool, err error) {
	v, ok := s.Data[BootstrapTokenExpirationKey]
	if !ok {
		return time.Time{}, false, nil
	}
	t, err = time.Parse(time.RFC3339, string(v))
	if err != nil {
		return time.Time{}, true, fmt.Errorf("secret %q in %q: %s %q: not RFC3339", s.Name, s.Namespace, BootstrapTokenExpirationKey, v)
	}
	return t, true, nil
}

// BootstrapTokenExpired tells whether the token has expired at now. An
// expiry that does not parse counts as expired, as in Kubernetes.
func BootstrapTokenExpired(s *corev1.Secret, now time.Time) bool {
	t, ok, err := BootstrapTokenExpiration(s)
	return err != nil || (ok && !now.Before(t))
}

// BootstrapTokenUsages are the usages the secret enables ("authentication",
// ...), sorted.
func BootstrapTokenUsages(s *corev1.Secret) []string {
	var usages []string
	for k, v := range s.Data {
		if u, ok := strings.CutPrefix(k, BootstrapTokenUsagePrefix); ok && string(v) == "true" {
			usages = append(usages, u)
		}
	}
	sort.Strings(usages)
	return usages
}

// validateBootstrapToken checks a bootstrap.kubernetes.io/token secret
// (after stringData is merged into data). The token secret is never
// echoed in an error.
func validateBootstrapToken(s *corev1.Secret) field.ErrorList {
	var errs field.ErrorList
	data := field.NewPath("data")
	if s.Namespace != BootstrapTokenNamespace {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "namespace"), s.Namespace,
			fmt.Sprintf("a secret of type %s must be in namespace %s", corev1.SecretTypeBootstrapToken, BootstrapTokenNamespace)))
	}
	id, hasID := s.Data[BootstrapTokenIDKey]
	switch {
	case !hasID:
		errs = append(errs, field.Required(data.Key(BootstrapTokenIDKey), "the token id is required"))
	case !bootstrapTokenIDRE.Match(id):
		errs = append(errs, field.Invalid(data.Key(BootstrapTokenIDKey), string(id), "must be 6 characters of [a-z0-9]"))
	case s.Name != BootstrapTokenSecretName(string(id)):
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), s.Name,
			fmt.Sprintf("must be %s<token-id>: %q", BootstrapTokenSecretPrefix, BootstrapTokenSecretName(string(id)))))
	}
	secret, hasSecret := s.Data[BootstrapTokenSecretKey]
	switch {
	case !hasSecret:
		errs = append(errs, field.Required(data.Key(BootstrapTokenSecretKey), "the token secret is required"))
	case !bootstrapTokenSecretRE.Match(secret):
		errs = append(errs, field.Invalid(data.Key(BootstrapTokenSecretKey), field.OmitValueType{}, "must be 16 characters of [a-z0-9]"))
	}
	if v, ok := s.Data[BootstrapTokenExpirationKey]; ok {
		if _, err := time.Parse(time.RFC3339, string(v)); err != nil {
			errs = append(errs, field.Invalid(data.Key(BootstrapTokenExpirationKey), string(v), "must be a time in RFC3339 format, e.g. 2006-01-02T15:04:05Z"))
		}
	}
	return errs
}
