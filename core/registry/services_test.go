//lint:file-ignore SA1019 core/v1 Endpoints is the resource skiff serves (DESIGN.md, Objects); EndpointSlices are not served.

package registry

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func decodeService(t *testing.T, js string) (*corev1.Service, error) {
	t.Helper()
	obj, err := ServiceStrategy{}.Decode([]byte(js))
	if err != nil {
		return nil, err
	}
	svc := obj.(*corev1.Service)
	svc.Namespace = "default"
	ServiceStrategy{}.PrepareForCreate(svc)
	return svc, nil
}

func TestServiceDecodeDefaultsAndValidate(t *testing.T) {
	svc, err := decodeService(t, `{"apiVersion":"v1","kind":"Service","metadata":{"name":"redis"},
		"spec":{"selector":{"run":"redis"},"ports":[{"port":6379}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	if errs := (ServiceStrategy{}).Validate(svc); len(errs) > 0 {
		t.Fatalf("valid service refused: %v", errs)
	}
	p := svc.Spec.Ports[0]
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || svc.Spec.SessionAffinity != corev1.ServiceAffinityNone ||
		p.Protocol != corev1.ProtocolTCP || p.TargetPort.IntVal != 6379 {
		t.Errorf("defaults: %+v", svc.Spec)
	}
	// targetPort by name, clusterIP None, several named ports.
	if svc, err = decodeService(t, `{"metadata":{"name":"web"},"spec":{"clusterIP":"None","selector":{"a":"b"},
		"ports":[{"name":"http","port":80,"targetPort":"http"},{"name":"dns","port":53,"protocol":"UDP","targetPort":5353}]}}`); err != nil {
		t.Fatal(err)
	}
	if errs := (ServiceStrategy{}).Validate(svc); len(errs) > 0 {
		t.Fatalf("valid service refused: %v", errs)
	}

	for name, tc := range map[string]struct{ js, want string }{
		"NodePort":        {`{"metadata":{"name":"s"},"spec":{"type":"NodePort","ports":[{"port":80}]}}`, `spec.type: Unsupported value: "NodePort"`},
		"LoadBalancer":    {`{"metadata":{"name":"s"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}}`, `spec.type: Unsupported value: "LoadBalancer"`},
		"ExternalName":    {`{"metadata":{"name":"s"},"spec":{"type":"ExternalName","ports":[{"port":80}]}}`, `spec.type: Unsupported value: "ExternalName"`},
		"ClientIP":        {`{"metadata":{"name":"s"},"spec":{"sessionAffinity":"ClientIP","ports":[{"port":80}]}}`, `spec.sessionAffinity: Unsupported value`},
		"unnamed ports":   {`{"metadata":{"name":"s"},"spec":{"ports":[{"port":80},{"name":"b","port":81}]}}`, `spec.ports[0].name: Required value`},
		"duplicate name":  {`{"metadata":{"name":"s"},"spec":{"ports":[{"name":"a","port":80},{"name":"a","port":81}]}}`, `spec.ports[1].name: Duplicate value`},
		"no ports":        {`{"metadata":{"name":"s"},"spec":{"selector":{"a":"b"}}}`, `spec.ports: Required value`},
		"bad port":        {`{"metadata":{"name":"s"},"spec":{"ports":[{"port":70000}]}}`, `spec.ports[0].port: Invalid value`},
		"bad target name": {`{"metadata":{"name":"s"},"spec":{"ports":[{"port":80,"targetPort":"no_such-"}]}}`, `spec.ports[0].targetPort: Invalid value`},
		"DNS-1035 name":   {`{"metadata":{"name":"1web"},"spec":{"ports":[{"port":80}]}}`, `metadata.name: Invalid value: "1web"`},
		"SCTP":            {`{"metadata":{"name":"s"},"spec":{"ports":[{"port":80,"protocol":"SCTP"}]}}`, `spec.ports[0].protocol: Unsupported value: "SCTP"`},
		"bad IP":          {`{"metadata":{"name":"s"},"spec":{"clusterIP":"10.96.0.300","ports":[{"port":80}]}}`, `spec.clusterIP: Invalid value`},
		"clusterIPs":      {`{"metadata":{"name":"s"},"spec":{"clusterIP":"10.96.0.3","clusterIPs":["10.96.0.4"],"ports":[{"port":80}]}}`, `spec.clusterIPs[0]: Invalid value`},
	} {
		svc, err := decodeService(t, tc.js)
		if err != nil {
			t.Errorf("%s: decode: %v", name, err)
			continue
		}
		errs := ServiceStrategy{}.Validate(svc)
		if len(errs) == 0 || !strings.Contains(errText(errs), tc.want) {
			t.Errorf("%s: errors %v, want one containing %q", name, errs, tc.want)
		}
	}
	for name, tc := range map[string]struct{ js, want string }{
		"nodePort":        {`{"metadata":{"name":"s"},"spec":{"ports":[{"port":80,"nodePort":30080}]}}`, `spec.ports[0].nodePort: not supported by skiff`},
		"externalIPs":     {`{"metadata":{"name":"s"},"spec":{"externalIPs":["1.2.3.4"],"ports":[{"port":80}]}}`, `spec.externalIPs: not supported by skiff`},
		"unknown field":   {`{"metadata":{"name":"s"},"spec":{"prots":[]}}`, `unknown field "spec.prots"`},
		"publishNotReady": {`{"metadata":{"name":"s"},"spec":{"publishNotReadyAddresses":true}}`, `spec.publishNotReadyAddresses: not supported by skiff`},
	} {
		if _, err := decodeService(t, tc.js); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func TestServiceUpdateKeepsClusterIP(t *testing.T) {
	st := ServiceStrategy{}
	old, _ := decodeService(t, `{"metadata":{"name":"s"},"spec":{"clusterIP":"10.96.0.9","ports":[{"port":80}]}}`)
	upd, _ := decodeService(t, `{"metadata":{"name":"s"},"spec":{"ports":[{"port":81}]}}`)
	if err := st.PrepareForUpdate(upd, old, ""); err != nil {
		t.Fatal(err)
	}
	if errs := st.ValidateUpdate(upd, old); len(errs) > 0 || upd.Spec.ClusterIP != "10.96.0.9" {
		t.Fatalf("update without clusterIP: %v, clusterIP %q", errs, upd.Spec.ClusterIP)
	}
	upd, _ = decodeService(t, `{"metadata":{"name":"s"},"spec":{"clusterIP":"10.96.0.8","ports":[{"port":81}]}}`)
	_ = st.PrepareForUpdate(upd, old, "")
	if errs := st.ValidateUpdate(upd, old); !strings.Contains(errText(errs), `spec.clusterIP: Invalid value: "10.96.0.8": field is immutable`) {
		t.Errorf("changed clusterIP: %v", errs)
	}
}

func TestEndpointsDecodeAndValidate(t *testing.T) {
	st := EndpointsStrategy{}
	obj, err := st.Decode([]byte(`{"apiVersion":"v1","kind":"Endpoints","metadata":{"name":"web","namespace":"default"},
		"subsets":[{"addresses":[{"ip":"10.1.0.2","nodeName":"n1","targetRef":{"kind":"Pod","name":"a","namespace":"default","uid":"u"}}],
		"notReadyAddresses":[{"ip":"10.1.0.3"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if errs := st.Validate(obj); len(errs) > 0 {
		t.Fatalf("valid endpoints refused: %v", errs)
	}
	if _, err := st.Decode([]byte(`{"metadata":{"name":"web"},"subsets":[{"addresses":[{"ip":"10.1.0.2","zone":"x"}]}]}`)); err == nil {
		t.Error("unknown address field accepted")
	}
	obj, _ = st.Decode([]byte(`{"metadata":{"name":"web","namespace":"default"},"subsets":[{"addresses":[{"ip":"nope"}],"ports":[{"port":0}]}]}`))
	errs := st.Validate(obj)
	if !strings.Contains(errText(errs), "subsets[0].addresses[0].ip") || !strings.Contains(errText(errs), "subsets[0].ports[0].port") {
		t.Errorf("invalid endpoints: %v", errs)
	}
}
