package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/suanli/suanli/internal/store"
)

func TestTxnValidate(t *testing.T) {
	long := strings.Repeat("x", store.MaxKeyBytes+1)
	cases := []struct {
		name  string
		txn   store.Txn
		wants []string // substrings of the error; none means valid
	}{
		{"empty txn", store.Txn{}, nil},
		{"valid", store.Txn{Conds: []store.Cond{{Key: "a", ModRev: 3}, {Key: "a"}}, Ops: []store.Op{store.PutOp("a", nil), store.DeleteOp("b")}}, nil},
		{"key at the limit", store.Txn{Ops: []store.Op{store.PutOp(long[1:], nil)}}, nil},
		{"value at the limit", store.Txn{Ops: []store.Op{store.PutOp("a", make([]byte, store.MaxValueBytes))}}, nil},
		{"txn at the byte limit", store.Txn{Ops: []store.Op{store.PutOp("a", make([]byte, store.MaxValueBytes)), store.PutOp("b", make([]byte, store.MaxTxnBytes-store.MaxValueBytes-2))}}, nil},
		{"txn over the byte limit", store.Txn{Ops: []store.Op{store.PutOp("a", make([]byte, store.MaxValueBytes)), store.PutOp("b", make([]byte, store.MaxTxnBytes-store.MaxValueBytes-1))}}, []string{"over the 1310720-byte transaction limit"}},
		{"empty key", store.Txn{Ops: []store.Op{store.PutOp("", nil)}}, []string{"ops[0]: key is empty"}},
		{"long key", store.Txn{Conds: []store.Cond{{Key: long}}}, []string{"conds[0]: key", "over the 4096-byte limit"}},
		{"negative rev", store.Txn{Conds: []store.Cond{{Key: "a", ModRev: -1}}}, []string{"conds[0]: mod revision -1"}},
		{"bad op type", store.Txn{Ops: []store.Op{{Key: "a"}}}, []string{"ops[0]: op type"}},
		{"duplicate", store.Txn{Ops: []store.Op{store.PutOp("a", nil), store.PutOp("b", nil), store.DeleteOp("a")}}, []string{`ops[2]: key "a" is already written by ops[0]`}},
		{"every problem", store.Txn{
			Conds: []store.Cond{{Key: ""}, {Key: "a", ModRev: -5}},
			Ops:   []store.Op{store.PutOp("", nil), store.PutOp("a", make([]byte, store.MaxValueBytes+1))},
		}, []string{"conds[0]", "conds[1]", "ops[0]", "ops[1]: value"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.txn.Validate()
			if len(c.wants) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("Validate() = %v, want ErrInvalid", err)
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestConflictError(t *testing.T) {
	var err error = &store.ConflictError{Key: "job/7", Want: 4, Got: 9}
	if !errors.Is(err, store.ErrConflict) {
		t.Fatal("ConflictError is not ErrConflict")
	}
	for _, w := range []string{`"job/7"`, "9", "4", "retry"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not mention %s", err, w)
		}
	}
}

func FuzzTxnValidate(f *testing.F) {
	f.Add("a", int64(0), "b", []byte("v"), uint8(1))
	f.Add("", int64(-1), "", []byte(nil), uint8(9))
	f.Fuzz(func(t *testing.T, ck string, rev int64, ok string, v []byte, typ uint8) {
		txn := store.Txn{Conds: []store.Cond{{Key: ck, ModRev: rev}}, Ops: []store.Op{{Type: store.EventType(typ), Key: ok, Value: v}}}
		err := txn.Validate()
		valid := ck != "" && rev >= 0 && ok != "" && (typ == 1 || typ == 2) && len(ck) <= store.MaxKeyBytes && len(ok) <= store.MaxKeyBytes
		if valid != (err == nil) {
			t.Fatalf("Validate(%+v) = %v, want valid=%v", txn, err, valid)
		}
	})
}
