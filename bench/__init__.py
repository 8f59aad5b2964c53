"""Benchmarks (make bench): throughput, freshness, export speed and recovery vs baselines."""
