package workload

import (
	"sync"
	"unicode/utf8"
)

// Tail keeps the last Size bytes written to it: a fixed ring, so a worker
// that prints gigabytes costs the agent Size bytes.
type Tail struct {
	mu   sync.Mutex // guards buf, next, full
	buf  []byte
	next int  // where the next byte goes
	full bool // the ring has wrapped
}

// NewTail returns a ring of size bytes (at least 1).
func NewTail(size int) *Tail {
	return &Tail{buf: make([]byte, max(size, 1))}
}

// Write implements io.Writer; it never fails.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= len(t.buf) {
		copy(t.buf, p[len(p)-len(t.buf):])
		t.next, t.full = 0, true
		return n, nil
	}
	c := copy(t.buf[t.next:], p)
	if c < len(p) {
		copy(t.buf, p[c:])
		t.full = true
	}
	t.next = (t.next + len(p)) % len(t.buf)
	if t.next == 0 && len(p) > 0 {
		t.full = true
	}
	return n, nil
}

// String returns the kept bytes in order, starting at a character boundary
// when the ring has dropped the beginning.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []byte
	if t.full {
		out = append(append(out, t.buf[t.next:]...), t.buf[:t.next]...)
		for i := 0; i < utf8.UTFMax && len(out) > 0 && !utf8.RuneStart(out[0]); i++ {
			out = out[1:]
		}
	} else {
		out = append(out, t.buf[:t.next]...)
	}
	return string(out)
}

// lineWriter passes every byte to a Tail and every complete line (up to
// maxLine bytes; longer ones are skipped) to fn.
type lineWriter struct {
	tail *Tail
	fn   func(line string)
	mu   sync.Mutex // guards line, skip
	line []byte
	skip bool // the current line grew past maxLine
}

const maxLine = 4096

func (w *lineWriter) Write(p []byte) (int, error) {
	n := len(p)
	w.tail.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(p) > 0 {
		i := indexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if !w.skip {
			if len(w.line)+len(chunk) > maxLine {
				w.skip, w.line = true, w.line[:0]
			} else {
				w.line = append(w.line, chunk...)
			}
		}
		if i < 0 {
			break
		}
		if !w.skip {
			w.fn(string(w.line))
		}
		w.line, w.skip = w.line[:0], false
		p = p[i+1:]
	}
	return n, nil
}

func indexByte(p []byte, c byte) int {
	for i, b := range p {
		if b == c {
			return i
		}
	}
	return -1
}
