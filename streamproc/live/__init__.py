"""Live operations: the metrics feed, the real-time metrics API and Prometheus metrics."""
