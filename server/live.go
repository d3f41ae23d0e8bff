package server

import (
	"net/http"
	"sync/atomic"
)

// Live is the handler the listener serves: the current Server, replaced as a
// whole by a reload. A request runs to its end on the Server it started on,
// so a swap drops nothing.
type Live struct {
	cur atomic.Pointer[Server]
}

// NewLive serves s until the first Swap.
func NewLive(s *Server) *Live {
	l := &Live{}
	l.cur.Store(s)
	return l
}

func (l *Live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.cur.Load().Handler.ServeHTTP(w, r)
}

// Current is the Server new requests go to.
func (l *Live) Current() *Server { return l.cur.Load() }

// Swap makes s serve new requests and returns the one it replaces.
func (l *Live) Swap(s *Server) *Server { return l.cur.Swap(s) }
