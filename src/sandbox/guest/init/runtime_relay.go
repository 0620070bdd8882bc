package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// The Runtime API relay: for a function instance, Lambda's Runtime API is served inside the guest (as
// Lambda serves it inside each execution environment) at RuntimeAPI.Listen, and each request is passed
// on to the daemon's Runtime API at RuntimeAPI.Upstream. The runtime's own connection is guest-local, so
// it survives what breaks the connection to the host: a snapshot restore (the restored guest's upstream
// connections belong to the snapshotted guest, under its old address) and a daemon restart (the daemon
// closes its end). The relay then re-issues the request on a new connection, from the guest's current
// address; the runtime's pending GET /runtime/invocation/next never notices.

// RuntimeAPIRelay is the run file's `runtimeApi`: where the relay listens, where the daemon's API is.
type RuntimeAPIRelay struct {
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
}

// The largest body the relay passes on: Lambda's 6 MB response limit with room for the daemon to see it
// is too large and answer 413 itself.
const relayMaxBody = 7 << 20

type runtimeRelay struct {
	upstream  string
	transport *http.Transport
	mu        sync.Mutex
	// epoch is cancelled by reset(): every upstream request in flight fails and is re-issued.
	epoch  context.Context
	cancel context.CancelFunc
}

var relay *runtimeRelay

// startRuntimeRelay listens before the app starts, so the runtime's first call finds it.
func startRuntimeRelay(cfg RuntimeAPIRelay) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	r := &runtimeRelay{
		upstream: cfg.Upstream,
		// No pooling across a reset: an idle connection from before a restore is as dead as a busy one.
		transport: &http.Transport{DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext, MaxIdleConnsPerHost: 4},
	}
	r.epoch, r.cancel = context.WithCancel(context.Background())
	relay = r
	go func() {
		srv := &http.Server{Handler: r}
		logf("strata-guest-init: Runtime API relay stopped: %v", srv.Serve(ln))
	}()
	return nil
}

// reset drops every connection to the daemon and re-issues the requests in flight (after a restore).
func (r *runtimeRelay) reset() {
	r.mu.Lock()
	r.cancel()
	r.epoch, r.cancel = context.WithCancel(context.Background())
	r.mu.Unlock()
	r.transport.CloseIdleConnections()
}

func (r *runtimeRelay) current() context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.epoch
}

func (r *runtimeRelay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, relayMaxBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	delay := 50 * time.Millisecond
	for {
		resp, err := r.roundTrip(req, body)
		if err == nil {
			defer resp.Body.Close()
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(w, resp.Body)
			return
		}
		// The runtime gave up (its connection closed): nothing to answer.
		if req.Context().Err() != nil {
			return
		}
		// A reset (restore) re-issues at once; an unreachable daemon (restarting) is retried with backoff.
		if !errors.Is(err, context.Canceled) {
			select {
			case <-time.After(delay):
			case <-req.Context().Done():
				return
			}
			delay = min(delay*2, time.Second)
		}
	}
}

// roundTrip sends one attempt; it fails when the epoch ends (reset) or the runtime hangs up.
func (r *runtimeRelay) roundTrip(req *http.Request, body []byte) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	epoch := r.current()
	stop := context.AfterFunc(epoch, cancel)
	out, err := http.NewRequestWithContext(ctx, req.Method, "http://"+r.upstream+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		stop()
		cancel()
		return nil, err
	}
	for k, v := range req.Header {
		out.Header[k] = v
	}
	out.ContentLength = int64(len(body))
	resp, err := r.transport.RoundTrip(out)
	if err != nil {
		stop()
		cancel()
		if epoch.Err() != nil {
			return nil, context.Canceled
		}
		return nil, err
	}
	// The body is read under the same contexts; released when it is closed.
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { stop(); cancel() }}
	return resp, nil
}

type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
