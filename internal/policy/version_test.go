package policy

import (
	"strings"
	"testing"
)

func TestVersionCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"24.1.0", "24.1.0", 0},
		{"24.1", "24.1.0", 0},
		{"v24.1.0", "24.1.0", 0},
		{"24.1.0+build7", "24.1.0", 0},
		{"535.104.05", "535.104.5", 0},
		{"24.1.0", "24.1.1", -1},
		{"24.10.0", "24.9.9", 1},
		{"24.1.rc1", "24.1", -1},
		{"24.1.0-rc1", "24.1.0", -1},
		{"24.1.rc3", "24.1.rc10", -1},
		{"23.0.rc3", "23.0.RC3", 0},
		{"24.1.alpha", "24.1.beta", -1},
		{"7.1.0.5.220", "7.1.0.5.99", 1},
		{"99999999999999999999.1", "99999999999999999998.9", 1}, // no overflow
		{"24.1.0", "24.1.0.1", -1},
	}
	for _, tt := range tests {
		a, err := ParseVersion(tt.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ParseVersion(tt.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Compare(&b); got != tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := b.Compare(&a); got != -tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d (antisymmetry)", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestParseVersionErrors(t *testing.T) {
	for _, s := range []string{"", "  ", "rc1", "v", "24..1", "24.1.", "24 1", "24/1", "1.0+b@d", strings.Repeat("1", 65)} {
		if _, err := ParseVersion(s); err == nil {
			t.Errorf("ParseVersion(%q) accepted", s)
		}
	}
}

func TestRange(t *testing.T) {
	tests := []struct {
		rng      string
		in, out  []string
		rendered string
	}{
		{">=24.1.0 <25", []string{"24.1.0", "24.1.9", "24.99"}, []string{"24.0.9", "25", "25.0.0", "24.1.rc1"}, ">=24.1.0 <25"},
		{">= 24.1.0, < 25", []string{"24.5"}, []string{"25.1"}, ">=24.1.0 <25"},
		{"<23.0.3 || =23.0.5", []string{"23.0.2", "23.0.5"}, []string{"23.0.3", "23.0.4", "23.0.6"}, "<23.0.3 || =23.0.5"},
		{"24.1.0", []string{"24.1", "24.1.0"}, []string{"24.1.1"}, "=24.1.0"},
		{"==24.1.0", []string{"24.1.0"}, []string{"24.1.1"}, "=24.1.0"},
		{"!=24.1.0", []string{"24.1.1"}, []string{"24.1.0"}, "!=24.1.0"},
		{"*", []string{"0", "999.1"}, nil, "*"},
		{">24 <=25", []string{"24.0.1", "25"}, []string{"24", "25.0.1"}, ">24 <=25"},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.rng)
		if err != nil {
			t.Errorf("ParseRange(%q): %v", tt.rng, err)
			continue
		}
		for _, s := range tt.in {
			if v, _ := ParseVersion(s); !r.Contains(v) {
				t.Errorf("%q should contain %s", tt.rng, s)
			}
		}
		for _, s := range tt.out {
			if v, _ := ParseVersion(s); r.Contains(v) {
				t.Errorf("%q should not contain %s", tt.rng, s)
			}
		}
		if got := r.String(); got != tt.rendered {
			t.Errorf("ParseRange(%q).String() = %q, want %q", tt.rng, got, tt.rendered)
		}
	}
}

func TestParseRangeErrors(t *testing.T) {
	tests := []struct{ rng, want string }{
		{"", "empty"},
		{">=24.1.0 ||", "empty alternative"},
		{">=abc", "must start with a number"},
		{">=25 <24", "matches no version"},
		{">24 <24", "matches no version"},
		{"=24 >24", "matches no version"},
		{">=24 <=24", ""}, // exactly 24: fine
	}
	for _, tt := range tests {
		_, err := ParseRange(tt.rng)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ParseRange(%q): %v", tt.rng, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("ParseRange(%q) = %v, want an error with %q", tt.rng, err, tt.want)
		}
	}
}

func FuzzRange(f *testing.F) {
	for _, s := range []string{">=24.1.0 <25", "<23.0.3 || =23.0.5", "*", "v1.2.3-rc1+b", ">= 1, <2", "||", ">=9 <1"} {
		f.Add(s, "24.1.3")
	}
	f.Fuzz(func(t *testing.T, rng, ver string) {
		r, err := ParseRange(rng)
		if err != nil {
			return
		}
		// The canonical form parses back to a range that agrees.
		r2, err := ParseRange(r.String())
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", r.String(), rng, err)
		}
		if r2.String() != r.String() {
			t.Fatalf("canonical form not stable: %q → %q", r.String(), r2.String())
		}
		if v, err := ParseVersion(ver); err == nil && r.Contains(v) != r2.Contains(v) {
			t.Fatalf("%q and its canonical %q disagree on %q", rng, r.String(), ver)
		}
	})
}
