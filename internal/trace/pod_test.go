package trace

// TotalGPUMilli is the pod's whole GPU request in thousandths of a GPU.
func (p Pod) TotalGPUMilli() int64 { return int64(p.NumGPU) * int64(p.GPUMilli) }
