package cmd

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/ctl/printers"
)

// target is one resource type a command works on, with the names given for
// it (none: every object, subject to selectors).
type target struct {
	res   api.Resource
	names []string
}

// parseTargets reads kubectl's resource arguments: `TYPE[,TYPE...] [NAME...]`
// or `TYPE/NAME...`.
func parseTargets(args []string) ([]target, error) {
	if len(args) == 0 {
		return nil, nil
	}
	if strings.Contains(args[0], "/") {
		return parseSlashTargets(args)
	}
	var out []target
	for _, typ := range strings.Split(args[0], ",") {
		if typ == "" {
			continue
		}
		res, err := api.Lookup(typ)
		if err != nil {
			return nil, err
		}
		out = append(out, target{res: res, names: args[1:]})
	}
	return out, nil
}

func parseSlashTargets(args []string) ([]target, error) {
	var out []target
	for _, a := range args {
		typ, name, ok := strings.Cut(a, "/")
		if !ok {
			return nil, fmt.Errorf("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'skiffctl get resource/<resource_name>' instead of 'skiffctl get resource resource/<resource_name>'")
		}
		if name == "" {
			return nil, fmt.Errorf("arguments in resource/name form must have a single resource and name")
		}
		res, err := api.Lookup(typ)
		if err != nil {
			return nil, err
		}
		if n := len(out); n > 0 && out[n-1].res.Name == res.Name {
			out[n-1].names = append(out[n-1].names, name)
			continue
		}
		out = append(out, target{res: res, names: []string{name}})
	}
	return out, nil
}

// withTypeMeta fills apiVersion and kind when the server left them out
// (list items often do), so -o output always carries them.
func withTypeMeta(obj printers.Object, res api.Resource) printers.Object {
	if _, ok := obj["apiVersion"]; !ok {
		obj["apiVersion"] = res.APIVersion()
	}
	if _, ok := obj["kind"]; !ok {
		obj["kind"] = res.Kind
	}
	return obj
}

// tableFor builds the kubectl table of objects of one resource.
func tableFor(res api.Resource, raws [][]byte, now time.Time) (printers.Table, error) {
	switch res.Kind {
	case "Pod":
		return typedTable(res, raws, now, printers.PodTable)
	case "Node":
		return typedTable(res, raws, now, printers.NodeTable)
	case "Event":
		return typedTable(res, raws, now, printers.EventTable)
	case "ConfigMap":
		return typedTable(res, raws, now, printers.ConfigMapTable)
	case "Secret":
		return typedTable(res, raws, now, printers.SecretTable)
	case "Namespace":
		return typedTable(res, raws, now, printers.NamespaceTable)
	case "Service":
		return typedTable(res, raws, now, printers.ServiceTable)
	case "Endpoints":
		return typedTable(res, raws, now, printers.EndpointsTable)
	case "Lease":
		return typedTable(res, raws, now, printers.LeaseTable)
	case "CertificateSigningRequest":
		return typedTable(res, raws, now, printers.CSRTable)
	}
	return genericTable(res, raws, now)
}

func typedTable[T any](res api.Resource, raws [][]byte, now time.Time, table func([]T, time.Time) printers.Table) (printers.Table, error) {
	items, err := decodeAll[T](res, raws)
	return table(items, now), err
}

// genericTable is kubectl's fallback table: NAME and AGE.
func genericTable(res api.Resource, raws [][]byte, now time.Time) (printers.Table, error) {
	metas, err := decodeAll[struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
	}](res, raws)
	t := printers.Table{Columns: []printers.Column{{Name: "Name"}, {Name: "Age"}}}
	for _, m := range metas {
		t.Rows = append(t.Rows, printers.Row{Namespace: m.Metadata.Namespace,
			Cells: []string{m.Metadata.Name, printers.Age(m.Metadata.CreationTimestamp, now)}})
	}
	return t, err
}

// decodeAll decodes the JSON of objects of one resource.
func decodeAll[T any](res api.Resource, raws [][]byte) ([]T, error) {
	out := make([]T, 0, len(raws))
	for _, r := range raws {
		var v T
		if err := json.Unmarshal(r, &v); err != nil {
			return out, fmt.Errorf("decode %s: %w", res.Kind, err)
		}
		out = append(out, v)
	}
	return out, nil
}
