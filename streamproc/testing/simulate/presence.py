"""Agent presence: shifts with breaks per agent and day, and who is available when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamproc.testing.simulate.config import DAY, HOUR, MIN, SEC, from_ms, to_ms
from streamproc.testing.simulate.directory import Agent, Directory
from streamproc.testing.simulate.reference import AWAY_OTHER


class Presence(Directory):
    """Plans every agent's presence changes up front; conversations pick available agents."""

    def _plan_presence(self, setup_end: int) -> None:
        """Shifts per agent and UTC date: AVAILABLE, breaks (AWAY with a status), OFFLINE."""
        rng = self.rng
        first_date = from_ms(self.start).date() - timedelta(days=1)
        last_date = from_ms(self.end).date()
        for agent in self.agents:
            events: list[tuple[int, str, str | None]] = []
            if agent.joined > setup_end:  # joined during the run: a short onboarding shift
                s = agent.joined + self._dur(600, 1800)
                e = s + self._dur(4 * 3600, 6 * 3600)
                self._shift(agent, s, e, s, events)
                not_before = e + 4 * HOUR
            else:
                not_before = setup_end
            d = first_date
            while d <= last_date:
                midnight = to_ms(datetime(d.year, d.month, d.day, tzinfo=UTC))
                d += timedelta(days=1)
                s = midnight + (6, 14, 22)[agent.pattern] * HOUR + rng.randint(-20 * MIN, 20 * MIN)
                e = s + 8 * HOUR + rng.randint(-20 * MIN, 40 * MIN)
                off = rng.random() < 0.1 and s > self.start + DAY
                if off or s >= self.end or e <= not_before + 30 * MIN:
                    continue
                self._shift(agent, s, e, max(s, not_before + self._dur(60, 300)), events)
            previous: tuple[int, str, str | None] | None = None
            for t, presence, away in events:
                self._emit(
                    t,
                    "agent.presence_changed",
                    {"agent_id": agent.agent_id, "presence": presence, "away_status": away},
                )
                if previous is not None and previous[1] == "AVAILABLE":
                    agent.seg_starts.append(previous[0])
                    agent.seg_ends.append(t)
                previous = (t, presence, away)
            if previous is not None and previous[1] == "AVAILABLE":
                agent.seg_starts.append(previous[0])
                agent.seg_ends.append(self.end + DAY)

    def _shift(
        self, agent: Agent, s: int, e: int, from_t: int, out: list[tuple[int, str, str | None]]
    ) -> None:
        rng = self.rng
        night = agent.pattern == 2
        shift: list[tuple[int, str, str | None]] = [(s, "AVAILABLE", None)]
        slots = (
            ((2.5, 3.0) if night else (1.5, 2.5), ("Break",), (10, 20), 0.8),
            ((3.6, 4.4) if night else (3.5, 4.5), ("Lunch",), (30, 60), 0.9),
            ((5.6, 6.3), AWAY_OTHER, (20, 60), 0.15 if night else 0.3),
        )
        busy_until = s
        for (lo, hi), names, (dlo, dhi), p in slots:
            if rng.random() >= p:
                continue
            a = max(s + int((lo + (hi - lo) * rng.random()) * HOUR), busy_until + 20 * MIN)
            b = a + rng.randint(dlo * MIN, dhi * MIN)
            chain = rng.random() < 0.15
            c = b + rng.randint(10 * MIN, 30 * MIN) if chain else b
            if c >= e - 10 * MIN:
                continue
            shift.append((a, "AWAY", rng.choice(names)))
            if chain:
                shift.append((b, "AWAY", rng.choice(AWAY_OTHER)))
            shift.append((c, "AVAILABLE", None))
            busy_until = c
            if rng.random() < 0.05:  # the client re-sends its state after a reconnect
                shift.append((c + rng.randint(2, 90) * SEC, "AVAILABLE", None))
        shift.append((e, "OFFLINE", None))
        if from_t > s:  # joins a shift already under way (start of the run, new agent)
            rest = [x for x in shift if x[0] > from_t + MIN]
            if rest and rest[0][1] == "AVAILABLE":
                rest = rest[1:]
            shift = [(from_t, "AVAILABLE", None), *rest]
        out.extend(shift)

    def _pick_agent(
        self,
        t: int,
        *,
        exclude: Agent | None = None,
        team: str | None = None,
        prefer: Agent | None = None,
    ) -> tuple[Agent, int]:
        """An agent available at ``t`` (or the first to become available) and that time."""
        rng = self.rng
        if (
            prefer is not None
            and prefer is not exclude
            and prefer.available_at(t)
            and rng.random() < 0.7
        ):
            return prefer, t
        avail = [a for a in self.agents if a is not exclude and a.available_at(t)]
        if team is not None:
            avail = [a for a in avail if a.team == team] or avail
        if avail:
            return rng.choice(avail), t
        best: tuple[Agent, int] | None = None
        for a in self.agents:
            nxt = a.next_available(t) if a is not exclude else None
            if nxt is not None and (best is None or nxt < best[1]):
                best = (a, nxt)
        if best is not None:
            return best[0], best[1] + self._dur(5, 180)
        pool = [a for a in self.agents if a is not exclude and a.joined < t]
        return rng.choice(pool or self.agents), t
