"""Deterministic, realistic inbox traffic generator: JSON lines that follow docs/events.md."""

from streamproc.testing.simulate.conversations import (
    DEFAULT_START,
    EVENT_TYPES,
    MALFORMED_KINDS,
    SimulationConfig,
    SimulationConfigError,
    SimulationSummary,
    parse_start,
    simulate,
    simulate_command,
    write_jsonl,
)

__all__ = [
    "DEFAULT_START",
    "EVENT_TYPES",
    "MALFORMED_KINDS",
    "SimulationConfig",
    "SimulationConfigError",
    "SimulationSummary",
    "parse_start",
    "simulate",
    "simulate_command",
    "write_jsonl",
]
