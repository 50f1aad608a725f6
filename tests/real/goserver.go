// An HTTP server for the real-workload tests (tests/tests/real.rs): listens on 127.0.0.1 (a
// port the kernel picks), prints "ready ADDR", answers every path with "hello", and on SIGTERM
// or SIGINT shuts down gracefully and exits 0.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	})}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Printf("ready %s\n", ln.Addr())
	select {
	case <-ctx.Done():
	case err := <-done:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
