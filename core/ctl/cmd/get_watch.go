package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/client"
	"github.com/skiffhq/skiff/core/ctl/printers"
)

// watch prints the current objects (unless --watch-only), then every change
// until the context ends, as `kubectl get -w` does. It lists first and
// watches from the list's revision, so no change falls between the two.
func (o *GetOptions) watch(ctx context.Context, c *client.Client) error {
	t := o.targets[0]
	ns := o.namespaceFor(t.res)
	raws, rev, err := c.ListRaw(ctx, t.res, ns, o.listOptions())
	if err != nil {
		return err
	}
	raws, err = o.pickNamed(ctx, c, t, ns, raws)
	if err != nil {
		return err
	}
	out := printers.NewWatchWriter(o.Out)
	printBatch := o.watchPrinter(t.res, out)
	if !o.WatchOnly {
		if err := printBatch(raws); err != nil {
			return err
		}
	}
	events, errc, err := c.Watch(ctx, t.res, ns, o.listOptions(), rev)
	if err != nil {
		return err
	}
	for ev := range events {
		if ev.Object == nil || ev.Type == "BOOKMARK" || !t.wants(ev.Object) {
			continue
		}
		if err := printBatch([][]byte{ev.Object}); err != nil {
			return err
		}
	}
	if err := <-errc; err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// pickNamed keeps the listed objects the target names, and reports the
// names that do not exist as a get of each would.
func (o *GetOptions) pickNamed(ctx context.Context, c *client.Client, t target, ns string, raws [][]byte) ([][]byte, error) {
	if len(t.names) == 0 {
		return raws, nil
	}
	var kept [][]byte
	found := map[string]bool{}
	for _, raw := range raws {
		if t.wants(raw) {
			kept = append(kept, raw)
			found[objectName(raw)] = true
		}
	}
	var errs []error
	for _, name := range t.names {
		if found[name] {
			continue
		}
		_, err := c.GetRaw(ctx, t.res, ns, name)
		if err != nil && !(apierrors.IsNotFound(err) && o.IgnoreNotFound) {
			errs = append(errs, err)
		}
	}
	return kept, errors.Join(errs...)
}

// wants reports whether an object is one the target names (any, when it
// names none).
func (t target) wants(raw []byte) bool {
	if len(t.names) == 0 {
		return true
	}
	name := objectName(raw)
	for _, n := range t.names {
		if n == name {
			return true
		}
	}
	return false
}

func objectName(raw []byte) string {
	obj, err := printers.DecodeObject(raw)
	if err != nil {
		return ""
	}
	md, _ := obj["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	return name
}

// watchPrinter returns a function that prints a batch of objects and
// flushes, keeping headers and column widths across batches.
func (o *GetOptions) watchPrinter(res api.Resource, out *printers.WatchWriter) func([][]byte) error {
	if o.objects != nil {
		// Only custom-columns is a table; other formats go out as they are.
		var w printers.Flusher = nopFlusher{o.Out}
		if _, isCols := o.objects.(*printers.CustomColumnsPrinter); isCols {
			w = out
		}
		return func(raws [][]byte) error {
			for _, raw := range raws {
				obj, err := printers.DecodeObject(raw)
				if err != nil {
					return fmt.Errorf("%s: %w", res.Kind, err)
				}
				if err := o.objects.PrintObject(w, withTypeMeta(obj, res)); err != nil {
					return err
				}
			}
			return w.Flush()
		}
	}
	p := &printers.TablePrinter{Options: o.tableOptions(res, false)}
	return func(raws [][]byte) error {
		table, err := tableFor(res, raws, o.f.Now())
		if err != nil {
			return err
		}
		if err := p.Print(out, table); err != nil {
			return err
		}
		return out.Flush()
	}
}

type nopFlusher struct{ io.Writer }

func (nopFlusher) Flush() error { return nil }
