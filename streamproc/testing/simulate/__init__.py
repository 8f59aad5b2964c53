"""Deterministic, realistic inbox traffic generator: JSON lines that follow docs/events.md.

The modules, each layer building on the one before:

- ``config``: SimulationConfig (what to simulate), SimulationSummary, time units.
- ``reference``: the world's vocabulary (names, channels, texts, scenario weights).
- ``stream``: event envelopes into an arrival-ordered heap, with duplicates and ``malformed`` lines.
- ``directory``: teams, agents, channels, topics, tags, contacts and their changes.
- ``presence``: agents' shifts and breaks; who is available when.
- ``conversations``: the steps of a conversation (messages, queue, locks, tags, resolutions).
- ``flows``: each day's conversations and the scenario each one plays: the ``Simulator``.
- ``output``: the line iterator, the JSON-lines file with its summary, ``streamproc simulate``.
"""

from streamproc.testing.simulate.config import (
    DEFAULT_START,
    EVENT_TYPES,
    MALFORMED_KINDS,
    SimulationConfig,
    SimulationConfigError,
    SimulationSummary,
    parse_start,
)
from streamproc.testing.simulate.output import simulate, simulate_command, write_jsonl

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
