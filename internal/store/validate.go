package store

import (
	"errors"
	"fmt"
)

// ValidateKey reports whether key is usable: non-empty and at most
// MaxKeyBytes long. The error wraps ErrInvalid.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("key is empty; give a non-empty key: %w", ErrInvalid)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("key %.32q… is %d bytes, over the %d-byte limit: %w", key, len(key), MaxKeyBytes, ErrInvalid)
	}
	return nil
}

// ValidatePrefix reports whether prefix is usable for List and Watch ("" means
// every key).
func ValidatePrefix(prefix string) error {
	if len(prefix) > MaxKeyBytes {
		return fmt.Errorf("prefix is %d bytes, over the %d-byte limit: %w", len(prefix), MaxKeyBytes, ErrInvalid)
	}
	return nil
}

// ValidatePage reports whether a ListPage request is usable.
func ValidatePage(prefix string, limit int) error {
	if err := ValidatePrefix(prefix); err != nil {
		return err
	}
	if limit <= 0 {
		return fmt.Errorf("page of %d keys: give a limit of at least 1: %w", limit, ErrInvalid)
	}
	return nil
}

// ValidateFromRev reports whether fromRev is usable for Watch.
func ValidateFromRev(fromRev int64) error {
	if fromRev < 0 {
		return fmt.Errorf("watch from revision %d: revisions are >= 0: %w", fromRev, ErrInvalid)
	}
	return nil
}

// Validate reports every problem in t, each with its path (conds[i], ops[i]).
// The error wraps ErrInvalid.
func (t Txn) Validate() error {
	var errs []error
	add := func(path string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
	}
	if len(t.Conds) > MaxTxnOps {
		add("conds", fmt.Errorf("%d conditions, over the limit of %d: %w", len(t.Conds), MaxTxnOps, ErrInvalid))
	}
	if len(t.Ops) > MaxTxnOps {
		add("ops", fmt.Errorf("%d ops, over the limit of %d: %w", len(t.Ops), MaxTxnOps, ErrInvalid))
	}
	for i, c := range t.Conds {
		path := fmt.Sprintf("conds[%d]", i)
		add(path, ValidateKey(c.Key))
		if c.ModRev < 0 {
			add(path, fmt.Errorf("mod revision %d is negative; use 0 for \"must not exist\": %w", c.ModRev, ErrInvalid))
		}
	}
	seen := make(map[string]int, len(t.Ops))
	total := 0
	for _, c := range t.Conds {
		total += len(c.Key)
	}
	for _, op := range t.Ops {
		total += len(op.Key) + len(op.Value)
	}
	if total > MaxTxnBytes {
		add("ops", fmt.Errorf("keys and values of %d bytes, over the %d-byte transaction limit: %w", total, MaxTxnBytes, ErrInvalid))
	}
	for i, op := range t.Ops {
		path := fmt.Sprintf("ops[%d]", i)
		add(path, ValidateKey(op.Key))
		switch op.Type {
		case Put:
			if len(op.Value) > MaxValueBytes {
				add(path, fmt.Errorf("value of %q is %d bytes, over the %d-byte limit: %w", op.Key, len(op.Value), MaxValueBytes, ErrInvalid))
			}
		case Delete:
		default:
			add(path, fmt.Errorf("op type %v is neither put nor delete: %w", op.Type, ErrInvalid))
		}
		if j, dup := seen[op.Key]; dup && op.Key != "" {
			add(path, fmt.Errorf("key %q is already written by ops[%d]; write each key once per txn: %w", op.Key, j, ErrInvalid))
		} else {
			seen[op.Key] = i
		}
	}
	return errors.Join(errs...)
}
