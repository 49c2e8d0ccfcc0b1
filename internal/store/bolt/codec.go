package bolt

import (
	"encoding/binary"
	"fmt"

	"github.com/suanli/suanli/internal/store"
)

// On-disk layout, one bolt file:
//
//	kv   key → createRev(8) modRev(8) value
//	log  rev(8) index(4) → type(1) createRev(8) keyLen(uvarint) key value
//	meta "rev" → rev(8); "compact" → compactRev(8)
//
// Integers are big-endian so that log keys sort by revision.
var (
	bucketKV    = []byte("kv")
	bucketLog   = []byte("log")
	bucketMeta  = []byte("meta")
	metaRev     = []byte("rev")
	metaCompact = []byte("compact")
)

func encodeKV(createRev, modRev int64, value []byte) []byte {
	b := make([]byte, 16+len(value))
	binary.BigEndian.PutUint64(b, uint64(createRev))
	binary.BigEndian.PutUint64(b[8:], uint64(modRev))
	copy(b[16:], value)
	return b
}

// decodeKV copies what it returns: bolt's slices die with the transaction.
func decodeKV(key string, b []byte) (store.KV, error) {
	if len(b) < 16 {
		return store.KV{}, fmt.Errorf("record of key %q is %d bytes, shorter than its 16-byte header: the data file is corrupt", key, len(b))
	}
	v := make([]byte, len(b)-16)
	copy(v, b[16:])
	return store.KV{
		Key:       key,
		Value:     v,
		CreateRev: int64(binary.BigEndian.Uint64(b)),
		ModRev:    int64(binary.BigEndian.Uint64(b[8:])),
	}, nil
}

func modRevOf(b []byte) int64 {
	if len(b) < 16 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b[8:]))
}

func createRevOf(b []byte) int64 {
	if len(b) < 16 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func logKey(rev int64, index uint32) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint64(b, uint64(rev))
	binary.BigEndian.PutUint32(b[8:], index)
	return b
}

func logRev(k []byte) int64 { return int64(binary.BigEndian.Uint64(k)) }

func encodeEvent(typ store.EventType, createRev int64, key string, value []byte) []byte {
	b := make([]byte, 0, 1+8+binary.MaxVarintLen64+len(key)+len(value))
	b = append(b, byte(typ))
	b = binary.BigEndian.AppendUint64(b, uint64(createRev))
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	return append(b, value...)
}

func decodeEvent(k, b []byte) (store.Event, error) {
	if len(k) != 12 || len(b) < 10 {
		return store.Event{}, fmt.Errorf("history record %x is malformed: the data file is corrupt", k)
	}
	rev := logRev(k)
	typ := store.EventType(b[0])
	n, w := binary.Uvarint(b[9:])
	if w <= 0 || uint64(len(b)-9-w) < n {
		return store.Event{}, fmt.Errorf("history record at revision %d has a bad key length: the data file is corrupt", rev)
	}
	key := string(b[9+w : 9+w+int(n)])
	ev := store.Event{Type: typ, Rev: rev, KV: store.KV{Key: key, ModRev: rev}}
	switch typ {
	case store.Put:
		ev.KV.CreateRev = int64(binary.BigEndian.Uint64(b[1:]))
		ev.KV.Value = append([]byte{}, b[9+w+int(n):]...)
	case store.Delete:
	default:
		return store.Event{}, fmt.Errorf("history record at revision %d has event type %d: the data file is corrupt", rev, b[0])
	}
	return ev, nil
}

// eventKey returns an encoded event's key, a slice of b.
func eventKey(b []byte) ([]byte, bool) {
	if len(b) < 10 {
		return nil, false
	}
	n, w := binary.Uvarint(b[9:])
	if w <= 0 || uint64(len(b)-9-w) < n {
		return nil, false
	}
	return b[9+w : 9+w+int(n)], true
}

func u64(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func u64Bytes(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
