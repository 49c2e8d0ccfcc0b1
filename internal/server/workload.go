package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/sched"
	"github.com/suanli/suanli/internal/store"
)

// Workload implements httpapi.Info: the learned task mix as the store
// holds it (any replica answers), or the prior before one is stored.
func (s *Server) Workload(ctx context.Context) (v1.TaskMix, error) {
	var st sched.MixState
	learned := false
	kv, err := s.s.Get(ctx, workloadKey)
	switch {
	case err == nil:
		if err := json.Unmarshal(kv.Value, &st); err != nil {
			return v1.TaskMix{}, fmt.Errorf("stored task mix: %w", err)
		}
		learned = true
	case errors.Is(err, store.ErrNotFound):
		mc := sched.MixConfig{}
		if s.cfg.Mix != nil {
			mc = *s.cfg.Mix
		}
		if s.cfg.FixedMix {
			mc.Prior = s.cfg.Sched.TypicalTasks
		}
		st = sched.NewMix(mc, nil).State()
	default:
		return v1.TaskMix{}, fmt.Errorf("read task mix: %w", err)
	}
	w := v1.TaskMix{Learned: learned, Observed: st.Observed, Typical: []v1.TaskShape{}, Shapes: []v1.WeightedShape{}}
	if st.Config != nil {
		w.HalfLifeWorkers = st.Config.HalfLife
	}
	for _, t := range st.Typical {
		w.Typical = append(w.Typical, wireShape(t))
	}
	for _, x := range st.Shapes {
		w.Shapes = append(w.Shapes, v1.WeightedShape{TaskShape: wireShape(x.TaskShape), Weight: x.Weight})
	}
	return w, nil
}

func wireShape(t sched.TaskShape) v1.TaskShape {
	return v1.TaskShape{Cards: t.Cards, ShareMilli: t.ShareMilli, CPUMilli: t.CPUMilli, HostMemMiB: t.HostMemMiB, Models: t.Models, PopularityMilli: t.PopularityMilli}
}
