package policy

import (
	"errors"
	"fmt"
	"os"

	"github.com/suanli/suanli/internal/catalog"
)

// LoadFile reads and parses a policy file.
func LoadFile(path string, cat *catalog.Catalog) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	p, err := Parse(b, cat)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ValidateExemptions reports every problem with the exemptions, each with
// its path.
func ValidateExemptions(ex []Exemption) error {
	var errs []error
	seen := map[string]int{}
	for i, e := range ex {
		p := fmt.Sprintf("exemptions[%d]", i)
		if e.ID == "" {
			errs = append(errs, fmt.Errorf("%s.id: missing", p))
		} else if j, dup := seen[e.ID]; dup {
			errs = append(errs, fmt.Errorf("%s.id: %q is already used by exemptions[%d]", p, e.ID, j))
		} else {
			seen[e.ID] = i
		}
		if (e.Job == "") == (e.Tenant == "") {
			errs = append(errs, fmt.Errorf("%s: give exactly one of job, tenant", p))
		}
		if e.Expires <= 0 {
			errs = append(errs, fmt.Errorf("%s.expires: %d; every exemption needs an expiry time", p, e.Expires))
		}
	}
	return errors.Join(errs...)
}
