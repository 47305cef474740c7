module hostsnap/workload

go 1.19
