//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package cmd

import (
	"context"
	"os"
	"os/signal"

	"golang.org/x/sys/unix"
)

// The local terminal for exec -t, on Unix: termios for raw mode (what
// golang.org/x/term's MakeRaw does), TIOCGWINSZ for the size and SIGWINCH
// for its changes.

func isTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), ioctlGetTermios)
	return err == nil
}

// makeRaw puts the terminal in raw mode (no echo, no line editing, no
// signals from keys: ^C goes to the remote command) and returns how to
// put it back.
func makeRaw(fd uintptr) (func(), error) {
	old, err := unix.IoctlGetTermios(int(fd), ioctlGetTermios)
	if err != nil {
		return nil, err
	}
	raw := *old
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(int(fd), ioctlSetTermios, &raw); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(int(fd), ioctlSetTermios, old) }, nil
}

func terminalSize(fd uintptr) (width, height uint16, ok bool) {
	ws, err := unix.IoctlGetWinsize(int(fd), unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 || ws.Row == 0 {
		return 0, 0, false
	}
	return ws.Col, ws.Row, true
}

// watchResize signals on the returned channel each time the terminal
// changes size; it is closed when ctx ends.
func watchResize(ctx context.Context) <-chan struct{} {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGWINCH)
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sig:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}
