//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package cmd

import (
	"context"
	"errors"
)

// Elsewhere skiffctl finds no terminal: exec -t warns and runs without one.

func isTerminal(uintptr) bool { return false }

func makeRaw(uintptr) (func(), error) {
	return nil, errors.New("raw terminal mode is not supported here")
}

func terminalSize(uintptr) (width, height uint16, ok bool) { return 0, 0, false }

func watchResize(context.Context) <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}
