"""The directory: teams, agents, channels, topics, tags and contacts, and their changes."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from streamproc.testing.simulate.config import DAY, MIN, SimulationConfig
from streamproc.testing.simulate.reference import (
    ATTRIBUTES,
    CHANNELS,
    DIRECTORY_CHANGES,
    FIRST_NAMES,
    LAST_NAMES,
    NEW_TOPIC_NAMES,
    TAG_NAMES,
    TEAM_NAMES,
    TEAM_RENAMES,
    TOPIC_NAMES,
    VIRTUAL_AGENTS,
)
from streamproc.testing.simulate.stream import EventStream


@dataclass(slots=True)
class Agent:
    agent_id: str
    name: str
    email: str
    reference: str
    team: str | None
    pattern: int  # 0 morning 06-14, 1 evening 14-22, 2 night 22-06 UTC
    joined: int
    seg_starts: list[int] = field(default_factory=list)
    seg_ends: list[int] = field(default_factory=list)

    def available_at(self, t: int) -> bool:
        i = bisect_right(self.seg_starts, t) - 1
        return i >= 0 and self.seg_ends[i] > t

    def next_available(self, t: int) -> int | None:
        i = bisect_right(self.seg_starts, t) - 1
        if i >= 0 and self.seg_ends[i] > t:
            return t
        return self.seg_starts[i + 1] if i + 1 < len(self.seg_starts) else None


@dataclass(slots=True)
class Label:
    """A topic or tag with its active/deleted history (change times strictly increasing)."""

    label_id: str
    name: str
    times: list[int] = field(default_factory=list)
    states: list[bool] = field(default_factory=list)

    def active_at(self, t: int) -> bool:
        i = bisect_right(self.times, t - 1) - 1
        return i >= 0 and self.states[i]

    def set(self, t: int, active: bool) -> None:
        self.times.append(t)
        self.states.append(active)


@dataclass(slots=True)
class Channel:
    channel_id: str
    medium: str
    name: str
    display_name: str
    weight: int
    va: str | None
    team: str | None


@dataclass(slots=True)
class Contact:
    contact_id: str
    medium: str
    primary: str
    secondary: str | None
    created: int
    attrs: dict[str, str | None] = field(default_factory=dict)


class Directory(EventStream):
    """The world's directory, set up at the window's start and changed during the days."""

    def __init__(self, config: SimulationConfig) -> None:
        super().__init__(config)
        self.n_contact = 0
        self.emails: dict[str, int] = {}
        self.teams: list[tuple[str, str]] = []
        self.agents: list[Agent] = []
        self.channels: list[Channel] = []
        self.topics: list[Label] = []
        self.tags: list[Label] = []
        self.vas: dict[str, str] = {}
        self.contacts: dict[str, list[Contact]] = {}

    def _person(self) -> tuple[str, str, str, str]:
        first, first_ascii = self.rng.choice(FIRST_NAMES)
        last, last_ascii = self.rng.choice(LAST_NAMES)
        return first, last, first_ascii, last_ascii

    def _email(self, first: str, last: str) -> str:
        base = f"{first}.{last}"
        seen = self.emails.get(base, 0)
        self.emails[base] = seen + 1
        return f"{base}{seen + 1 if seen else ''}@acme.example"

    def _setup(self) -> int:
        """Teams, virtual agents, channels, topics, tags, agents and contacts; returns its end."""
        rng = self.rng
        t = self.start + rng.randint(200, 2000)

        def step() -> int:
            nonlocal t
            t += rng.randint(5, 60)
            return t

        for i in range(self.cfg.teams):
            team_id = f"team-{i + 1:02d}"
            name = TEAM_NAMES[i] if i < len(TEAM_NAMES) else f"Team {i + 1}"
            self.teams.append((team_id, name))
            self._emit(step(), "team.upserted", {"team_id": team_id, "name": name})
        for va_id, name in VIRTUAL_AGENTS:
            self.vas[va_id] = name
            self._emit(step(), "virtual_agent.upserted", {"virtual_agent_id": va_id, "name": name})
        for i, (medium, name, display, weight, va) in enumerate(CHANNELS):
            channel = Channel(
                f"channel-{i + 1:02d}",
                medium,
                name,
                display,
                weight,
                None if va is None else VIRTUAL_AGENTS[va][0],
                None if medium == "LINKEDIN" else self.teams[i % len(self.teams)][0],
            )
            self.channels.append(channel)
            self.contacts.setdefault(medium, [])
            self._emit(step(), "channel.upserted", self._channel_body(channel))
        for i, name in enumerate(TOPIC_NAMES):
            topic = Label(f"topic-{i + 1:02d}", name)
            topic.set(step(), True)
            self.topics.append(topic)
            self._emit(t, "topic.upserted", {"topic_id": topic.label_id, "name": name})
        for i, name in enumerate(TAG_NAMES):
            tag = Label(f"tag-{i + 1:02d}", name)
            tag.set(step(), True)
            self.tags.append(tag)
            self._emit(t, "tag.upserted", {"tag_id": tag.label_id, "name": name})
        for i in range(self.cfg.agents):
            agent = self._new_agent(i, step())
            self._emit(t, "agent.upserted", self._agent_body(agent))
        for _ in range(min(500, max(10, self.cfg.conversations // 4))):
            self._new_contact(self.rng.choice(self.channels).medium, step(), step)
        return t

    def _channel_body(self, ch: Channel) -> dict[str, Any]:
        return {
            "channel_id": ch.channel_id,
            "medium": ch.medium,
            "name": ch.name,
            "display_name": ch.display_name,
        }

    def _agent_body(self, a: Agent) -> dict[str, Any]:
        return {
            "agent_id": a.agent_id,
            "name": a.name,
            "email": a.email,
            "reference": a.reference,
            "team_id": a.team,
        }

    def _new_agent(self, i: int, t: int) -> Agent:
        first, last, fa, la = self._person()
        team = None if i % 6 == 5 else self.teams[i % len(self.teams)][0]
        agent = Agent(
            agent_id=f"agent-{i + 1:03d}",
            name=f"{first} {last}",
            email=self._email(fa, la),
            reference=f"EMP-{10400 + 7 * i}",
            team=team,
            pattern=(0, 1, 0, 1, 2)[i % 5],
            joined=t,
        )
        self.agents.append(agent)
        return agent

    def _identifier(self, medium: str) -> tuple[str, str | None]:
        rng = self.rng
        first, last, fa, la = self._person()
        name: str | None = f"{first} {last}" if rng.random() < 0.8 else None
        handle = f"{fa}{la[: rng.randint(1, len(la))]}{rng.randint(1, 999)}"
        if medium in ("TWITTER", "INSTAGRAM"):
            return "@" + handle, name
        if medium == "FACEBOOK":
            return str(rng.randrange(10**15, 10**16)), name
        if medium in ("WHATSAPP", "SMS"):
            return f"+1555{rng.randrange(10**6, 10**7)}", name
        if medium == "LINKEDIN":
            return f"urn:li:person:{rng.randrange(16**9, 16**10):x}", name
        if rng.random() < 0.5:
            return f"{handle}@example.com", name
        return f"visitor-{rng.randrange(16**7, 16**8):x}", name

    def _new_contact(self, medium: str, t: int, step: Any) -> Contact:
        self.n_contact += 1
        primary, secondary = self._identifier(medium)
        contact = Contact(f"contact-{self.n_contact:06d}", medium, primary, secondary, t)
        self.contacts[medium].append(contact)
        self._emit(t, "contact.upserted", self._contact_body(contact))
        for attr in self.rng.sample(ATTRIBUTES, self.rng.choice((0, 1, 2, 2, 3, 4))):
            self._set_attribute(contact, step(), attr)
        return contact

    def _contact_body(self, c: Contact) -> dict[str, Any]:
        return {
            "contact_profile_id": c.contact_id,
            "medium": c.medium,
            "primary_identifier": c.primary,
            "secondary_identifier": c.secondary,
        }

    def _set_attribute(
        self, contact: Contact, t: int, attr: tuple[str, str, str], *, null: bool = False
    ) -> None:
        rng = self.rng
        attr_id, name, kind = attr
        value: str | None
        if null or (attr_id == "attr-07" and rng.random() < 0.4):
            value = None
        elif kind == "NUMBER":
            value = (
                str(rng.randint(1, 60))
                if attr_id == "attr-05"
                else f"{rng.randint(0, 500000) / 100:.2f}"
            )
        elif kind == "DATE":
            value = (date(2015, 1, 1) + timedelta(days=rng.randint(0, 4000))).isoformat()
        elif kind == "BOOLEAN":
            value = rng.choice(("true", "false"))
        elif attr_id == "attr-01":
            value = rng.choice(("Bronze", "Silver", "Gold", "Platinum"))
        else:
            value = rng.choice(
                ("Prefers email", "Called twice about #{n}", "VIP — handle with care")
            )
            value = value.replace("{n}", str(rng.randint(1000, 9999)))
        contact.attrs[attr_id] = value
        self._emit(
            t,
            "contact.attribute_set",
            {
                "contact_profile_id": contact.contact_id,
                "attribute_id": attr_id,
                "name": name,
                "value": value,
                "attribute_type": kind,
            },
        )

    def _plan_directory(self) -> None:
        """Renames, deletions, re-creations and new agents/topics during the days."""
        rng = self.rng
        for day in range(self.cfg.days):
            first = day == 0
            base = self.start + day * DAY
            plan: list[tuple[int, str]] = []
            for frac, action, p in DIRECTORY_CHANGES:
                if first or rng.random() < p:
                    if action == "restore" and first:
                        action = "tag_restore"  # the tag deleted earlier today comes back
                    plan.append((base + int(frac * DAY) + rng.randint(0, 20 * MIN), action))
            plan.sort()
            for t, action in plan:
                self._directory_action(t, action)

    def _directory_action(self, t: int, action: str) -> None:
        rng = self.rng
        if action == "team_rename":
            i = rng.randrange(len(self.teams))
            team_id, name = self.teams[i]
            new = TEAM_RENAMES.get(name, f"{name} Team")
            self.teams[i] = (team_id, new)
            self._emit(t, "team.upserted", {"team_id": team_id, "name": new})
        elif action == "agent_rename":
            agent = rng.choice(self.agents)
            first = agent.name.split(" ")[0]
            _f, last, _fa, la = self._person()
            agent.name = f"{first} {last}"
            agent.email = self._email(agent.email.split(".")[0], la)
            self._emit(t, "agent.upserted", self._agent_body(agent))
        elif action == "channel_rename":
            channel = rng.choice(self.channels)
            channel.display_name = (
                channel.display_name + " (new)"
                if rng.random() < 0.5
                else (channel.display_name.replace("Acme", "ACME"))
            )
            self._emit(t, "channel.upserted", self._channel_body(channel))
        elif action == "va_rename":
            va_id = rng.choice(sorted(self.vas))
            self.vas[va_id] = self.vas[va_id] + " 2.0"
            self._emit(
                t, "virtual_agent.upserted", {"virtual_agent_id": va_id, "name": self.vas[va_id]}
            )
        elif action == "agent_join":
            agent = self._new_agent(len(self.agents), t)
            self._emit(t, "agent.upserted", self._agent_body(agent))
        elif action == "topic_new":
            topic = Label(f"topic-{len(self.topics) + 1:02d}", rng.choice(NEW_TOPIC_NAMES))
            topic.set(t, True)
            self.topics.append(topic)
            self._emit(t, "topic.upserted", {"topic_id": topic.label_id, "name": topic.name})
        elif action in ("topic_rename", "tag_rename"):
            labels = self.topics if action == "topic_rename" else self.tags
            label = rng.choice([x for x in labels if x.active_at(t)])
            if label.name.islower():  # tags: "follow-up" <-> "Follow-Up"
                label.name = label.name.title()
            elif label.name.istitle() and label.label_id.startswith("tag-"):
                label.name = label.name.lower()
            elif label.name.endswith(" (general)"):
                label.name = label.name.removesuffix(" (general)")
            else:
                label.name += " (general)"
            kind = action.split("_")[0]
            self._emit(t, f"{kind}.upserted", {f"{kind}_id": label.label_id, "name": label.name})
        elif action in ("topic_delete", "tag_delete"):
            labels = self.topics if action == "topic_delete" else self.tags
            active = [x for x in labels if x.active_at(t)]
            if len(active) > 4:
                label = rng.choice(active)
                label.set(t, False)
                kind = action.split("_")[0]
                self._emit(t, f"{kind}.deleted", {f"{kind}_id": label.label_id})
        elif action in ("tag_restore", "restore"):
            pool = [("tag", x) for x in self.tags if not x.active_at(t)]
            if action == "restore":
                pool += [("topic", x) for x in self.topics if not x.active_at(t)]
            if pool:
                kind, label = rng.choice(pool)
                label.set(t, True)
                self._emit(
                    t, f"{kind}.upserted", {f"{kind}_id": label.label_id, "name": label.name}
                )
