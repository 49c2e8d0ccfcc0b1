package etcd

// Accessors that only the tests use.

// Candidate returns the value this leader published.
func (l *Leadership) Candidate() string { return l.name }
