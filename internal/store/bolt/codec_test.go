package bolt

import (
	"bytes"
	"testing"

	"github.com/suanli/suanli/internal/store"
)

func TestEventRoundTrip(t *testing.T) {
	for _, ev := range []store.Event{
		{Type: store.Put, KV: store.KV{Key: "k", Value: []byte("v"), CreateRev: 3, ModRev: 7}, Rev: 7},
		{Type: store.Put, KV: store.KV{Key: "租户/\x00", Value: []byte{}, CreateRev: 7, ModRev: 7}, Rev: 7},
		{Type: store.Delete, KV: store.KV{Key: "gone", ModRev: 9}, Rev: 9},
	} {
		got, err := decodeEvent(logKey(ev.Rev, 2), encodeEvent(ev.Type, ev.KV.CreateRev, ev.KV.Key, ev.KV.Value))
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != ev.Type || got.Rev != ev.Rev || got.KV.Key != ev.KV.Key || got.KV.CreateRev != ev.KV.CreateRev ||
			got.KV.ModRev != ev.KV.ModRev || !bytes.Equal(got.KV.Value, ev.KV.Value) {
			t.Fatalf("round trip %+v → %+v", ev, got)
		}
		if k, ok := eventKey(encodeEvent(ev.Type, 1, ev.KV.Key, []byte("zz"))); !ok || string(k) != ev.KV.Key {
			t.Fatalf("eventKey = %q, %v", k, ok)
		}
	}
	kv, err := decodeKV("k", encodeKV(2, 5, []byte("v")))
	if err != nil || kv.CreateRev != 2 || kv.ModRev != 5 || string(kv.Value) != "v" {
		t.Fatalf("kv round trip: %+v %v", kv, err)
	}
}

// Corrupt records are errors, never panics.
func FuzzDecode(f *testing.F) {
	f.Add(logKey(5, 0), encodeEvent(store.Put, 3, "key", []byte("value")))
	f.Add(logKey(6, 1), encodeEvent(store.Delete, 0, "key", nil))
	f.Add([]byte{1, 2}, []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		ev, err := decodeEvent(k, v)
		if err == nil {
			if ev.Type != store.Put && ev.Type != store.Delete {
				t.Fatalf("decoded event type %v", ev.Type)
			}
			// Re-encoding may differ in bytes (a non-minimal length varint)
			// but must decode to the same event.
			again, err := decodeEvent(k, encodeEvent(ev.Type, ev.KV.CreateRev, ev.KV.Key, ev.KV.Value))
			if err != nil || again.KV.Key != ev.KV.Key || !bytes.Equal(again.KV.Value, ev.KV.Value) || again.KV.CreateRev != ev.KV.CreateRev {
				t.Fatalf("re-encoding %+v gave %+v, %v", ev, again, err)
			}
		}
		eventKey(v)
		decodeKV("k", v)
	})
}
