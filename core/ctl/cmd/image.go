package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/ctl/printers"
)

// imageChunkSize is how much of an image archive goes in one message.
const imageChunkSize = 1 << 20

// NewCmdImage returns `skiffctl image` and its subcommands.
func NewCmdImage(f Factory, streams IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Manage the images on the nodes",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCmdImageLoad(f, streams), newCmdImageList(f, streams))
	return cmd
}

// ImageLoadOptions are the options of `skiffctl image load`.
type ImageLoadOptions struct {
	IOStreams
	f Factory

	Node  string
	files []string
}

func newCmdImageLoad(f Factory, streams IOStreams) *cobra.Command {
	o := &ImageLoadOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:   "load FILE...",
		Short: "Load image archives (docker save / OCI tar) onto the nodes",
		Example: `  # Load an image on every node
  docker save nginx:1.27 -o nginx.tar && skiffctl image load nginx.tar

  # Load from stdin onto one node
  docker save busybox | skiffctl image load --node worker-1 -`,
		Args: requireArgs(1, "at least one image archive (or - for stdin) is required"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.files = args
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.Node, "node", "", "Load onto this node only (default: every node).")
	return cmd
}

// Run streams each archive to the server and prints what each node loaded.
func (o *ImageLoadOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	var errs []error
	for _, file := range o.files {
		resp, err := o.load(ctx, c.API, file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, img := range resp.Images {
			fmt.Fprintf(o.Out, "Loaded image %q on node %q\n", img.Ref, img.Node)
		}
		for _, e := range resp.Errors {
			errs = append(errs, fmt.Errorf("load %s: %s", file, e))
		}
	}
	return errors.Join(errs...)
}

func (o *ImageLoadOptions) load(ctx context.Context, cl apipb.SkiffClient, file string) (*apipb.ImagesResponse, error) {
	r, closeFn, err := openArchive(file, o.In)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	stream, err := cl.LoadImages(ctx)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, api.FromGRPC(err))
	}
	if err := sendChunks(stream, o.Node, r); err != nil {
		return nil, fmt.Errorf("load %s: %w", file, err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", file, api.FromGRPC(err))
	}
	return resp, nil
}

func openArchive(file string, stdin io.Reader) (io.Reader, func(), error) {
	if file == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, fmt.Errorf("open image archive: %w", err)
	}
	return f, func() { f.Close() }, nil
}

// sendChunks sends r in chunks; the first names the node (always sent,
// even for an empty archive).
func sendChunks(stream apipb.Skiff_LoadImagesClient, node string, r io.Reader) error {
	buf := make([]byte, imageChunkSize)
	first := true
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 || first {
			msg := &apipb.ImageChunk{Data: append([]byte(nil), buf[:n]...)}
			if first {
				msg.Node = node
			}
			first = false
			if err := stream.Send(msg); err != nil {
				if err == io.EOF {
					return nil // the server ended the stream; CloseAndRecv has its answer
				}
				return api.FromGRPC(err)
			}
		}
		switch rerr {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return nil
		default:
			return fmt.Errorf("read image archive: %w", rerr)
		}
	}
}

// ImageListOptions are the options of `skiffctl image ls`.
type ImageListOptions struct {
	IOStreams
	f Factory

	Node      string
	NoHeaders bool
}

func newCmdImageList(f Factory, streams IOStreams) *cobra.Command {
	o := &ImageListOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the images on the nodes",
		Args:    noArgs,
		RunE:    func(cmd *cobra.Command, args []string) error { return o.Run(cmd.Context()) },
	}
	cmd.Flags().StringVar(&o.Node, "node", "", "Only list the images of this node.")
	cmd.Flags().BoolVar(&o.NoHeaders, "no-headers", false, "Don't print headers.")
	return cmd
}

// Run prints NODE IMAGE ID SIZE for every image of every node.
func (o *ImageListOptions) Run(ctx context.Context) error {
	c, err := o.f.Client()
	if err != nil {
		return err
	}
	resp, err := c.API.ListImages(ctx, &apipb.ListImagesRequest{})
	if err != nil {
		return api.FromGRPC(err)
	}
	images := resp.Images
	sort.SliceStable(images, func(i, j int) bool {
		if images[i].Node != images[j].Node {
			return images[i].Node < images[j].Node
		}
		return images[i].Ref < images[j].Ref
	})
	t := printers.Table{Columns: []printers.Column{{Name: "Node"}, {Name: "Image"}, {Name: "ID"}, {Name: "Size"}}}
	for _, img := range images {
		if o.Node != "" && img.Node != o.Node {
			continue
		}
		t.Rows = append(t.Rows, printers.Row{Cells: []string{img.Node, img.Ref, shortImageID(img.Id), HumanSize(img.Size)}})
	}
	if err := printTable(o.Out, t, o.NoHeaders); err != nil {
		return err
	}
	if len(t.Rows) == 0 && len(resp.Errors) == 0 {
		fmt.Fprintln(o.ErrOut, "No images found")
	}
	var errs []error
	for _, e := range resp.Errors {
		errs = append(errs, fmt.Errorf("%s", e))
	}
	return errors.Join(errs...)
}

// printTable prints a table with kubectl's alignment.
func printTable(w io.Writer, t printers.Table, noHeaders bool) error {
	tw := printers.NewTabWriter(w)
	p := &printers.TablePrinter{Options: printers.TableOptions{NoHeaders: noHeaders}}
	if err := p.Print(tw, t); err != nil {
		return err
	}
	return tw.Flush()
}

// shortImageID is the first 13 hex digits of an image id, as crictl shows.
func shortImageID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 13 {
		return id[:13]
	}
	return id
}

// HumanSize renders bytes with decimal units and three significant digits
// ("72.8MB"), as docker and crictl do.
func HumanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB", "PB"}
	size := float64(n)
	i := 0
	for size >= 1000 && i < len(units)-1 {
		size /= 1000
		i++
	}
	return fmt.Sprintf("%.3g%s", size, units[i])
}
