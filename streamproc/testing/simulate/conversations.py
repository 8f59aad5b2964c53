"""Deterministic, realistic inbox traffic generator: JSON lines that follow docs/events.md."""

from __future__ import annotations

import heapq
import math
import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from os import PathLike
from random import Random
from typing import IO, Any, Final

import click
import orjson

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

DEFAULT_START: Final = datetime(2026, 11, 2, tzinfo=UTC)

EVENT_TYPES: Final = (
    "message.created",
    "message.updated",
    "message.deleted",
    "message.tag_added",
    "message.tag_removed",
    "conversation.locked",
    "conversation.unlocked",
    "conversation.created",
    "conversation.status_changed",
    "conversation.topic_added",
    "conversation.topic_removed",
    "conversation.language_set",
    "csat.sent",
    "csat.responded",
    "agent.presence_changed",
    "agent.upserted",
    "team.upserted",
    "virtual_agent.upserted",
    "channel.upserted",
    "contact.upserted",
    "contact.attribute_set",
    "topic.upserted",
    "topic.deleted",
    "tag.upserted",
    "tag.deleted",
)
"""Every event type of the contract, in the order of docs/events.md."""

MALFORMED_KINDS: Final = (
    "not_json",
    "truncated",
    "not_object",
    "missing_field",
    "wrong_type",
    "unknown_type",
    "invalid_enum",
    "bad_timestamp",
    "bad_event_id",
    "csat_score",
)
"""The kinds of bad lines the simulator mixes in (each is invalid under the contract)."""

SEC: Final = 1000
MIN: Final = 60 * SEC
HOUR: Final = 60 * MIN
DAY: Final = 24 * HOUR
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
AUTO_RESOLVE_AFTER: Final = 8 * HOUR
"""How long a PENDING conversation waits for the contact before the SYSTEM auto-resolves it."""

_VALID, _DUPLICATE, _MALFORMED = 0, 1, 2


class SimulationConfigError(ValueError):
    """A simulation setting is out of range; ``field`` names the setting."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate. Same config ⇒ byte-identical output.

    - ``seed``: any integer >= 0.
    - ``days``: length of the simulated window, in 24 h days from ``start`` (1..3660).
      Nothing is emitted at or after ``start + days``: conversations, locks and presence
      still open then simply stay open.
    - ``conversations``: new conversations started **per day** (1..100000), spread over
      the day with a daytime peak (UTC hours). On the first day, the first ones (up to 21,
      between 25% and 55% of the day) play a fixed list of scenarios, so that every event
      type and every rule of docs/exports.md shows up in a one-day run.
    - ``duplicates``: probability in [0, 1) that a valid event is delivered a second time
      (an exact byte copy, same ``event_id``), a little later in the stream.
    - ``shuffle_seconds``: bound of the arrival disorder (0..86400). Every line arrives at
      ``occurred_at + delay`` with ``0 <= delay <= shuffle_seconds``, so no line arrives
      after a line whose ``occurred_at`` is more than ``shuffle_seconds`` later.
    - ``malformed``: probability in [0, 1), per valid event, that a bad line (see
      ``MALFORMED_KINDS``) is mixed into the stream next to it.
    - ``start``: timezone-aware start of the window (default 2026-11-02T00:00:00Z).
    - ``agents``: size of the initial agent roster (2..999); one more agent joins during
      the first day, and now and then another on later days.
    - ``teams``: number of teams (1..min(agents, 99)).
    - ``lock_max_seconds``: the service's lock expiry (60..86400, default 2 h); lock-expiry
      scenarios leave a lock idle for longer than this.
    """

    seed: int
    days: int = 1
    conversations: int = 200
    duplicates: float = 0.05
    shuffle_seconds: int = 300
    malformed: float = 0.005
    start: datetime = DEFAULT_START
    agents: int = 12
    teams: int = 3
    lock_max_seconds: int = 7200

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, rule: str) -> None:
            if not ok:
                value = getattr(self, name)
                raise SimulationConfigError(name, f"{name} must be {rule}, got {value!r}")

        need(_is_int(self.seed) and self.seed >= 0, "seed", "an integer >= 0")
        need(_is_int(self.days) and 1 <= self.days <= 3660, "days", "an integer in [1, 3660]")
        need(
            _is_int(self.conversations) and 1 <= self.conversations <= 100_000,
            "conversations",
            "an integer in [1, 100000]",
        )
        need(
            _is_real(self.duplicates) and 0 <= self.duplicates < 1,
            "duplicates",
            "a probability in [0, 1)",
        )
        need(
            _is_int(self.shuffle_seconds) and 0 <= self.shuffle_seconds <= 86_400,
            "shuffle_seconds",
            "an integer in [0, 86400]",
        )
        need(
            _is_real(self.malformed) and 0 <= self.malformed < 1,
            "malformed",
            "a probability in [0, 1)",
        )
        need(
            isinstance(self.start, datetime)
            and self.start.utcoffset() is not None
            and 1971 <= self.start.year <= 9000,
            "start",
            "a timezone-aware datetime between years 1971 and 9000",
        )
        need(_is_int(self.agents) and 2 <= self.agents <= 999, "agents", "an integer in [2, 999]")
        need(
            _is_int(self.teams) and 1 <= self.teams <= min(self.agents, 99),
            "teams",
            f"an integer in [1, {min(self.agents, 99)}] (at most one team per agent, max 99)",
        )
        need(
            _is_int(self.lock_max_seconds) and 60 <= self.lock_max_seconds <= 86_400,
            "lock_max_seconds",
            "an integer in [60, 86400]",
        )


@dataclass(frozen=True)
class SimulationSummary:
    """What a simulation wrote: valid unique events by type, noise and the event-time span."""

    counts: Mapping[str, int]
    duplicates: int
    malformed: int
    malformed_by_kind: Mapping[str, int]
    lines: int
    first_occurred_at: datetime | None
    last_occurred_at: datetime | None

    @property
    def valid(self) -> int:
        """Valid unique events (every line that is neither a duplicate nor malformed)."""
        return sum(self.counts.values())

    def format_table(self) -> str:
        """A plain-text table of the summary, one item per line."""
        rows = [f"{'event type':<30} {'count':>10}"]
        rows += [f"{name:<30} {count:>10,}" for name, count in self.counts.items()]
        rows.append(f"{'valid events (unique)':<30} {self.valid:>10,}")
        rows.append(f"{'duplicates':<30} {self.duplicates:>10,}")
        kinds = ", ".join(f"{k} {n}" for k, n in self.malformed_by_kind.items() if n)
        rows.append(f"{'malformed':<30} {self.malformed:>10,}" + (f"  ({kinds})" if kinds else ""))
        rows.append(f"{'total lines':<30} {self.lines:>10,}")
        for label, moment in (("first", self.first_occurred_at), ("last", self.last_occurred_at)):
            rows.append(f"{label + ' occurred_at':<30} {_iso(moment) if moment else '-':>10}")
        return "\n".join(rows)


# ---------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------

_FIRST_NAMES: Final = (
    ("Ana", "ana"), ("José", "jose"), ("Zoë", "zoe"), ("Łukasz", "lukasz"),
    ("Søren", "soren"), ("Priya", "priya"), ("Kwame", "kwame"), ("Mei", "mei"),
    ("Olivia", "olivia"), ("Mateo", "mateo"), ("Fatima", "fatima"), ("Noah", "noah"),
    ("Chloé", "chloe"), ("Hiroshi", "hiroshi"), ("Ingrid", "ingrid"), ("Diego", "diego"),
    ("Amara", "amara"), ("Liam", "liam"), ("Sofía", "sofia"), ("Yusuf", "yusuf"),
)  # fmt: skip
_LAST_NAMES: Final = (
    ("García", "garcia"), ("Smith", "smith"), ("Nowak", "nowak"), ("Müller", "muller"),
    ("O'Brien", "obrien"), ("Okafor", "okafor"), ("Chen", "chen"), ("Rossi", "rossi"),
    ("Dubois", "dubois"), ("Kowalski", "kowalski"), ("Tanaka", "tanaka"), ("Silva", "silva"),
    ("Johansson", "johansson"), ("Patel", "patel"), ("Martínez", "martinez"),
    ("Nguyen", "nguyen"),
)  # fmt: skip
_TEAM_NAMES: Final = (
    "Customer Care", "Billing", "Social Media", "Escalations", "Tech Support",
    "Retail Stores", "VIP Desk", "Returns",
)  # fmt: skip
_TEAM_RENAMES: Final = {
    "Customer Care": "Customer Care EMEA",
    "Billing": "Billing & Payments",
    "Social Media": "Social Care",
    "Escalations": "Tier 2 Escalations",
    "Tech Support": "Technical Support",
}
_VIRTUAL_AGENTS: Final = (("va-01", "Ava"), ("va-02", "Max"))

# (medium, name, display_name, conversation weight, virtual agent index or None)
_CHANNELS: Final = (
    ("TWITTER", "@AcmeSupport", "Acme Support on X", 12, None),
    ("FACEBOOK", "Acme", "Acme Facebook Page", 14, 1),
    ("INSTAGRAM", "@acme", "Acme Instagram", 11, None),
    ("WHATSAPP", "+1 555 0100", "Acme WhatsApp US", 15, 0),
    ("WHATSAPP", "+34 600 000 100", "Acme WhatsApp España", 8, None),
    ("WEBCHAT", "acme.com chat", "Website chat", 20, 0),
    ("SMS", "+1 555 0199", "Acme SMS", 6, None),
    ("LINKEDIN", "Acme Inc.", "Acme on LinkedIn", 4, None),
)
_PUBLIC_MEDIA: Final = {
    "TWITTER": "MENTION",
    "FACEBOOK": "COMMENT",
    "INSTAGRAM": "COMMENT",
    "LINKEDIN": "COMMENT",
}
_TOPIC_NAMES: Final = (
    "Order status", "Billing", "Returns & refunds", "Shipping", "Account access",
    "Product question", "Complaint", "Technical issue", "Store information", "Feedback",
)  # fmt: skip
_NEW_TOPIC_NAMES: Final = ("Black Friday", "Holiday returns", "Loyalty programme", "Recall")
_TAG_NAMES: Final = (
    "urgent", "vip", "spam", "refund", "bug", "positive", "negative", "escalated",
    "follow-up", "lead", "warranty", "order-issue",
)  # fmt: skip
# (attribute_id, name, type)
_ATTRIBUTES: Final = (
    ("attr-01", "Customer tier", "TEXT"),
    ("attr-02", "Lifetime value", "NUMBER"),
    ("attr-03", "Customer since", "DATE"),
    ("attr-04", "Newsletter opt-in", "BOOLEAN"),
    ("attr-05", "Order count", "NUMBER"),
    ("attr-06", "Last order date", "DATE"),
    ("attr-07", "Notes", "TEXT"),
)
_AWAY_OTHER: Final = ("Meeting", "Training", "Coaching", "Admin work")
_LANGUAGES: Final = (
    ("en", 40),
    ("en-GB", 8),
    ("es", 18),
    ("es-MX", 4),
    ("fr", 8),
    ("pt-BR", 6),
    ("de", 5),
    (None, 11),
)
_CONTENT_LANG: Final = {
    "en": "en",
    "en-GB": "en",
    "es": "es",
    "es-MX": "es",
    "fr": "fr",
    "pt-BR": "pt",
    "de": "de",
}
_INBOUND: Final = {
    "en": (
        "Hi, my order #{n} hasn't arrived yet.", "How do I reset my password?",
        "I was charged twice this month!", "Do you ship to Canada?",
        "The app keeps crashing when I open my cart 😕", "Can I return a gift without the receipt?",
        "Is the store on Main St open on Sunday?", "I'd like to cancel my subscription.",
        "My discount code {n} doesn't work.", "Where can I find my invoice?",
    ),
    "es": (
        "Hola, mi pedido #{n} no ha llegado.", "¿Cómo cambio mi contraseña?",
        "Me han cobrado dos veces este mes.", "¿Hacéis envíos a Canarias?",
        "El código de descuento {n} no funciona.",
    ),
    "fr": ("Bonjour, ma commande #{n} n'est pas arrivée.",
           "Comment réinitialiser mon mot de passe ?", "J'ai été débité deux fois !",
           "Livrez-vous en Belgique ?"),
    "pt": ("Olá, meu pedido #{n} ainda não chegou.", "Como altero minha senha?",
           "Fui cobrado duas vezes!", "Vocês entregam no Rio?"),
    "de": ("Hallo, meine Bestellung #{n} ist noch nicht angekommen.",
           "Wie setze ich mein Passwort zurück?", "Mir wurde doppelt abgebucht!",
           "Liefert ihr nach Österreich?"),
}  # fmt: skip
_FOLLOW_UPS: Final = {
    "en": ("Thanks, that worked! 🙏", "Still waiting for an answer...",
           "Here is a photo of the box.", "Order number is {n}.", "Ok, I'll try that.",
           "Can I talk to a person please?"),
    "es": ("¡Gracias, ya funciona!", "Sigo esperando...", "El número de pedido es {n}.",
           "Vale, lo pruebo."),
    "fr": ("Merci, ça marche !", "J'attends toujours...", "Le numéro de commande est {n}."),
    "pt": ("Obrigado, funcionou!", "Ainda estou esperando...", "O número do pedido é {n}."),
    "de": ("Danke, hat geklappt!", "Ich warte immer noch...", "Die Bestellnummer ist {n}."),
}  # fmt: skip
_AGENT_REPLIES: Final = {
    "en": ("Hi! Sorry about that, let me check your order.", "Thanks for reaching out — I've sent "
           "you a reset link.", "I've refunded the duplicate charge, it takes 3-5 days.",
           "Could you share your order number?", "All sorted, anything else I can help with?",
           "=HYPERLINK(\"https://acme.example/help\") is our help centre."),
    "es": ("¡Hola! Perdona las molestias, reviso tu pedido.",
           "Te hemos devuelto el cargo duplicado.", "¿Nos pasas el número de pedido?",
           "Listo, ¿algo más?"),
    "fr": ("Bonjour ! Je vérifie votre commande.",
           "Pouvez-vous nous donner le numéro de commande ?"),
    "pt": ("Olá! Vou verificar o seu pedido.", "Pode nos passar o número do pedido?"),
    "de": ("Hallo! Ich prüfe Ihre Bestellung.", "Können Sie uns die Bestellnummer schicken?"),
}  # fmt: skip
_VA_REPLIES: Final = (
    "Hi, I'm a virtual assistant. What can I help you with?",
    "You can track your order here: https://acme.example/track",
    "Here is how to reset your password: https://acme.example/reset",
    "Did that answer your question?",
)
_PROACTIVE: Final = (
    "Hi! Your replacement has shipped, tracking: https://acme.example/t/{n}",
    "Just checking in — is everything working now?",
    "Hola, ¿pudiste resolver el problema?",
)
_AUTO_REPLY: Final = (
    "Thanks for your message! Our team is offline right now and will reply from 6:00 UTC.",
    "We got your message and will get back to you shortly.",
)
_API_MESSAGES: Final = ("Your order #{n} has shipped 📦", "Your refund for order #{n} was issued.")
_RESOLVE_REASONS: Final = ("ISSUE_FIXED", "INFORMATION_PROVIDED", "REFUND_ISSUED", "ANSWERED")
_RESOLVE_COMMENTS: Final = (
    "Customer confirmed.",
    "Refund ref R-{n}",
    "Sent the FAQ link.",
    "+ follow up next week",
    "Dup of an earlier ticket",
)
_HANDOVER_REASONS: Final = (
    ("CONTACT_REQUESTED", 45),
    ("INTENT_NOT_RECOGNIZED", 25),
    ("ERROR", 15),
    ("OUT_OF_SCOPE", 15),
)
_OFFSETS: Final = tuple(
    timezone(timedelta(minutes=m)) for m in (60, -300, 330, 540, -180, 0, 120, -420)
)
_HOUR_WEIGHTS: Final = (
    2,
    1,
    1,
    1,
    1,
    2,
    4,
    6,
    9,
    11,
    12,
    12,
    11,
    11,
    12,
    12,
    11,
    10,
    9,
    8,
    7,
    5,
    4,
    3,
)

# Scenario weights of the conversations that are not forced.
_FLOWS: Final = (
    ("standard", 38.0), ("va_resolve", 8.0), ("va_handover", 9.0), ("pending_reopen", 7.0),
    ("pending_autoresolve", 4.0), ("pending_followup", 3.0), ("no_reply_resolve", 4.0),
    ("cherry_pick", 4.0), ("takeover", 3.0), ("lock_expiry", 2.0), ("repeat_lock", 3.0),
    ("transfer", 3.0), ("manual_requeue", 1.5), ("bulk_resolve", 1.5), ("automation", 2.0),
    ("resolved_again", 4.0), ("abandoned", 1.5), ("proactive", 2.0),
)  # fmt: skip
_HUMAN_AFTER_HANDOVER: Final = (
    ("standard", 70.0),
    ("pending_reopen", 8.0),
    ("takeover", 5.0),
    ("no_reply_resolve", 5.0),
    ("cherry_pick", 6.0),
    ("abandoned", 3.0),
    ("lock_expiry", 3.0),
)
# Scenarios the first day always contains (between 25% and 55% of the day), so that every
# event type and every metric rule of docs/exports.md is exercised by a one-day run.
_FORCED: Final[tuple[tuple[str, dict[str, Any]], ...]] = (
    ("standard", {"full": True}),
    ("va_handover", {"reason": "ERROR", "force": True}),
    ("va_resolve", {"force": True}),
    ("va_handover", {"reason": "CONTACT_REQUESTED", "force": True}),
    ("pending_reopen", {"force": True}),
    ("takeover", {"force": True}),
    ("lock_expiry", {"force": True}),
    ("cherry_pick", {"force": True}),
    ("repeat_lock", {"force": True}),
    ("transfer", {"force": True}),
    ("manual_requeue", {"force": True}),
    ("bulk_resolve", {"force": True}),
    ("automation", {"force": True}),
    ("pending_autoresolve", {"force": True}),
    ("pending_followup", {"force": True}),
    ("resolved_again", {"force": True}),
    ("no_reply_resolve", {"force": True}),
    ("proactive", {"force": True}),
    ("abandoned", {"force": True}),
    ("standard", {"medium": "TWITTER", "public": True}),
    ("standard", {"medium": "FACEBOOK", "public": True, "full": True}),
)
_VA_FLOWS: Final = frozenset({"va_resolve", "va_handover"})
# Directory changes per day: (fraction of the day, action, probability on days after the first;
# the first day has all of them).
_DIRECTORY_CHANGES: Final = (
    (0.30, "team_rename", 0.15), (0.31, "agent_rename", 0.15), (0.33, "channel_rename", 0.1),
    (0.34, "va_rename", 0.05), (0.36, "agent_join", 0.2), (0.38, "topic_new", 0.1),
    (0.40, "topic_rename", 0.15), (0.42, "tag_rename", 0.15), (0.45, "topic_delete", 0.2),
    (0.50, "tag_delete", 0.2), (0.75, "restore", 0.3),
)  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


# ---------------------------------------------------------------------------
# World state
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Agent:
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
class _Label:
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
class _Channel:
    channel_id: str
    medium: str
    name: str
    display_name: str
    weight: int
    va: str | None
    team: str | None


@dataclass(slots=True)
class _Contact:
    contact_id: str
    medium: str
    primary: str
    secondary: str | None
    created: int
    attrs: dict[str, str | None] = field(default_factory=dict)


@dataclass(slots=True)
class _Conv:
    conv_id: str
    channel: _Channel
    contact: _Contact
    language: str | None
    lang: str
    t: int
    public: bool
    post_url: str | None
    inbound: list[str] = field(default_factory=list)
    outbound: list[str] = field(default_factory=list)
    msg_tags: dict[str, list[str]] = field(default_factory=dict)
    topics: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    team: str | None = None
    last: int = 0


_Rec = tuple[int, int, int, str, int, bytes]  # arrival, seq, kind, type/kind name, occ, line


class _Simulator:
    """Builds the world, then generates conversations day by day into an arrival-ordered heap."""

    def __init__(self, config: SimulationConfig) -> None:
        self.cfg = config
        # The random streams' names keep the module's first path: same seed, same bytes.
        base = f"streamproc.simulate/{config.seed}"
        self.rng = Random(base + "/world")
        self.fmt = Random(base + "/format")
        self.noise = Random(base + "/noise")
        self.start = _to_ms(config.start)
        self.end = self.start + config.days * DAY
        self.shuffle_ms = config.shuffle_seconds * SEC
        self.heap: list[_Rec] = []
        self.seq = 0
        self.floor = self.start
        self.n_event = 0
        self.n_bad = 0
        self.n_msg = 0
        self.n_conv = 0
        self.n_contact = 0
        self.n_survey = 0
        self.emails: dict[str, int] = {}
        self.teams: list[tuple[str, str]] = []
        self.agents: list[_Agent] = []
        self.channels: list[_Channel] = []
        self.topics: list[_Label] = []
        self.tags: list[_Label] = []
        self.vas: dict[str, str] = {}
        self.contacts: dict[str, list[_Contact]] = {}

    # -- output --------------------------------------------------------------------------

    def records(self) -> Iterator[_Rec]:
        setup_end = self._setup()
        self._plan_directory()
        self._plan_presence(setup_end)
        for day in range(self.cfg.days):
            self._day(day, setup_end)
            self.floor = self.start + (day + 1) * DAY - MIN
            yield from self._flush(self.floor)
        yield from self._flush(None)

    def _flush(self, horizon: int | None) -> Iterator[_Rec]:
        heap = self.heap
        while heap and (horizon is None or heap[0][0] < horizon):
            yield heapq.heappop(heap)

    def _push(self, arrival: int, kind: int, name: str, occ: int, line: bytes) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (arrival, self.seq, kind, name, occ, line))

    def _ts(self, t: int) -> str:
        moment = _EPOCH + timedelta(milliseconds=t)
        if self.fmt.random() < 0.01:
            return moment.astimezone(self.fmt.choice(_OFFSETS)).isoformat(timespec="milliseconds")
        return moment.isoformat(timespec="milliseconds")[:-6] + "Z"

    def _emit(self, t: int, etype: str, body: dict[str, Any]) -> None:
        """One valid event at time ``t`` (dropped at or after the window's end) plus noise."""
        if t < self.floor:
            raise RuntimeError(f"internal error: {etype} at {t} before the flushed horizon")
        self.n_event += 1
        fmt = self.fmt
        event: dict[str, Any] = {
            "event_id": f"evt-{self.cfg.seed}-{self.n_event:08d}",
            "type": etype,
            "occurred_at": self._ts(t),
        }
        if fmt.random() < 0.25:
            event["v"] = 1
        event.update(body)
        extra = fmt.random()
        if extra < 0.02:  # unknown extra fields are ignored by the contract
            event["producer"] = "inbox-events/2.14.3" if extra < 0.01 else "inbox-events/2.15.0-rc1"
        if t >= self.end:
            return
        line = orjson.dumps(event)
        noise = self.noise
        delay = int(noise.random() ** 3 * self.shuffle_ms)
        self._push(t + delay, _VALID, etype, t, line)
        if self.cfg.duplicates and noise.random() < self.cfg.duplicates:
            later = delay + int(noise.random() ** 2 * (self.shuffle_ms - delay))
            self._push(t + later, _DUPLICATE, etype, t, line)
        if self.cfg.malformed and noise.random() < self.cfg.malformed:
            kind, bad = self._malformed(t)
            self._push(t + delay + noise.randint(0, 2 * SEC), _MALFORMED, kind, t, bad)

    def _cemit(self, c: _Conv, etype: str, body: dict[str, Any]) -> None:
        """An event of conversation ``c`` at ``c.t``, strictly after its previous one."""
        if c.t <= c.last:
            c.t = c.last + 1
        c.last = c.t
        self._emit(c.t, etype, body)

    # -- small helpers -------------------------------------------------------------------

    def _dur(self, lo_s: float, hi_s: float, skew: float = 1.0) -> int:
        """A random duration in ms in [lo_s, hi_s] seconds (skew > 1 favours short ones)."""
        return int((lo_s + (hi_s - lo_s) * self.rng.random() ** skew) * SEC) + 1

    def _adv(self, c: _Conv, lo_s: float, hi_s: float, skew: float = 1.0) -> int:
        c.t += self._dur(lo_s, hi_s, skew)
        return c.t

    def _weighted(self, items: tuple[tuple[Any, float], ...]) -> Any:
        values = [v for v, _ in items]
        return self.rng.choices(values, weights=[w for _, w in items])[0]

    def _text(self, bank: tuple[str, ...]) -> str:
        return self.rng.choice(bank).replace("{n}", str(self.rng.randint(10_000, 99_999)))

    def _person(self) -> tuple[str, str, str, str]:
        first, first_ascii = self.rng.choice(_FIRST_NAMES)
        last, last_ascii = self.rng.choice(_LAST_NAMES)
        return first, last, first_ascii, last_ascii

    def _email(self, first: str, last: str) -> str:
        base = f"{first}.{last}"
        seen = self.emails.get(base, 0)
        self.emails[base] = seen + 1
        return f"{base}{seen + 1 if seen else ''}@acme.example"

    # -- directory ---------------------------------------------------------------------

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
            name = _TEAM_NAMES[i] if i < len(_TEAM_NAMES) else f"Team {i + 1}"
            self.teams.append((team_id, name))
            self._emit(step(), "team.upserted", {"team_id": team_id, "name": name})
        for va_id, name in _VIRTUAL_AGENTS:
            self.vas[va_id] = name
            self._emit(step(), "virtual_agent.upserted", {"virtual_agent_id": va_id, "name": name})
        for i, (medium, name, display, weight, va) in enumerate(_CHANNELS):
            channel = _Channel(
                f"channel-{i + 1:02d}",
                medium,
                name,
                display,
                weight,
                None if va is None else _VIRTUAL_AGENTS[va][0],
                None if medium == "LINKEDIN" else self.teams[i % len(self.teams)][0],
            )
            self.channels.append(channel)
            self.contacts.setdefault(medium, [])
            self._emit(step(), "channel.upserted", self._channel_body(channel))
        for i, name in enumerate(_TOPIC_NAMES):
            topic = _Label(f"topic-{i + 1:02d}", name)
            topic.set(step(), True)
            self.topics.append(topic)
            self._emit(t, "topic.upserted", {"topic_id": topic.label_id, "name": name})
        for i, name in enumerate(_TAG_NAMES):
            tag = _Label(f"tag-{i + 1:02d}", name)
            tag.set(step(), True)
            self.tags.append(tag)
            self._emit(t, "tag.upserted", {"tag_id": tag.label_id, "name": name})
        for i in range(self.cfg.agents):
            agent = self._new_agent(i, step())
            self._emit(t, "agent.upserted", self._agent_body(agent))
        for _ in range(min(500, max(10, self.cfg.conversations // 4))):
            self._new_contact(self.rng.choice(self.channels).medium, step(), step)
        return t

    def _channel_body(self, ch: _Channel) -> dict[str, Any]:
        return {
            "channel_id": ch.channel_id,
            "medium": ch.medium,
            "name": ch.name,
            "display_name": ch.display_name,
        }

    def _agent_body(self, a: _Agent) -> dict[str, Any]:
        return {
            "agent_id": a.agent_id,
            "name": a.name,
            "email": a.email,
            "reference": a.reference,
            "team_id": a.team,
        }

    def _new_agent(self, i: int, t: int) -> _Agent:
        first, last, fa, la = self._person()
        team = None if i % 6 == 5 else self.teams[i % len(self.teams)][0]
        agent = _Agent(
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

    def _new_contact(self, medium: str, t: int, step: Any) -> _Contact:
        self.n_contact += 1
        primary, secondary = self._identifier(medium)
        contact = _Contact(f"contact-{self.n_contact:06d}", medium, primary, secondary, t)
        self.contacts[medium].append(contact)
        self._emit(t, "contact.upserted", self._contact_body(contact))
        for attr in self.rng.sample(_ATTRIBUTES, self.rng.choice((0, 1, 2, 2, 3, 4))):
            self._set_attribute(contact, step(), attr)
        return contact

    def _contact_body(self, c: _Contact) -> dict[str, Any]:
        return {
            "contact_profile_id": c.contact_id,
            "medium": c.medium,
            "primary_identifier": c.primary,
            "secondary_identifier": c.secondary,
        }

    def _set_attribute(
        self, contact: _Contact, t: int, attr: tuple[str, str, str], *, null: bool = False
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
            for frac, action, p in _DIRECTORY_CHANGES:
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
            new = _TEAM_RENAMES.get(name, f"{name} Team")
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
            topic = _Label(f"topic-{len(self.topics) + 1:02d}", rng.choice(_NEW_TOPIC_NAMES))
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

    # -- presence ------------------------------------------------------------------------

    def _plan_presence(self, setup_end: int) -> None:
        """Shifts per agent and UTC date: AVAILABLE, breaks (AWAY with a status), OFFLINE."""
        rng = self.rng
        first_date = _from_ms(self.start).date() - timedelta(days=1)
        last_date = _from_ms(self.end).date()
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
                midnight = _to_ms(datetime(d.year, d.month, d.day, tzinfo=UTC))
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
        self, agent: _Agent, s: int, e: int, from_t: int, out: list[tuple[int, str, str | None]]
    ) -> None:
        rng = self.rng
        night = agent.pattern == 2
        shift: list[tuple[int, str, str | None]] = [(s, "AVAILABLE", None)]
        slots = (
            ((2.5, 3.0) if night else (1.5, 2.5), ("Break",), (10, 20), 0.8),
            ((3.6, 4.4) if night else (3.5, 4.5), ("Lunch",), (30, 60), 0.9),
            ((5.6, 6.3), _AWAY_OTHER, (20, 60), 0.15 if night else 0.3),
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
                shift.append((b, "AWAY", rng.choice(_AWAY_OTHER)))
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
        exclude: _Agent | None = None,
        team: str | None = None,
        prefer: _Agent | None = None,
    ) -> tuple[_Agent, int]:
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
        best: tuple[_Agent, int] | None = None
        for a in self.agents:
            nxt = a.next_available(t) if a is not exclude else None
            if nxt is not None and (best is None or nxt < best[1]):
                best = (a, nxt)
        if best is not None:
            return best[0], best[1] + self._dur(5, 180)
        pool = [a for a in self.agents if a is not exclude and a.joined < t]
        return rng.choice(pool or self.agents), t

    # -- conversations -------------------------------------------------------------------

    def _day(self, day: int, setup_end: int) -> None:
        rng = self.rng
        ws = self.start + day * DAY
        lo = max(ws, setup_end + 2 * MIN)
        n = self.cfg.conversations
        forced = _FORCED[: min(len(_FORCED), n)] if day == 0 else ()
        starts: list[tuple[int, str | None, dict[str, Any]]] = []
        for i, (flow, opts) in enumerate(forced):
            t = ws + int(DAY * (0.25 + 0.30 * i / len(forced))) + rng.randint(0, 5 * MIN)
            starts.append((t, flow, opts))
        hours = [_HOUR_WEIGHTS[_from_ms(ws + h * HOUR).hour] for h in range(24)]
        for _ in range(n - len(forced)):
            h = rng.choices(range(24), weights=hours)[0]
            at = max(lo + rng.randint(0, 10 * MIN), ws + h * HOUR + rng.randint(0, HOUR - 1))
            starts.append((at, None, {}))
        starts.sort(key=lambda x: x[0])
        for at, chosen, options in starts:
            self._conversation(at, chosen or self._weighted(_FLOWS), options)

    def _pick_channel(self, flow: str, opts: dict[str, Any]) -> _Channel:
        if "medium" in opts:
            pool = [ch for ch in self.channels if ch.medium == opts["medium"]]
        elif flow in _VA_FLOWS:
            pool = [ch for ch in self.channels if ch.va is not None]
        else:
            pool = self.channels
        weights = [ch.weight * (0.2 if ch.va and flow not in _VA_FLOWS else 1.0) for ch in pool]
        return self.rng.choices(pool, weights=weights)[0]

    def _contact_for(self, channel: _Channel, t0: int) -> _Contact:
        rng = self.rng
        pool = self.contacts[channel.medium]
        if pool and rng.random() < 0.55:
            contact = pool[rng.randrange(len(pool))]
            if contact.created < t0 - 15 * SEC:
                if rng.random() < 0.04:  # the platform sent a fresher profile
                    contact.secondary = self._identifier(contact.medium)[1]
                    self._emit(
                        t0 - rng.randint(2, 10) * SEC,
                        "contact.upserted",
                        self._contact_body(contact),
                    )
                return contact
        t = t0 - rng.randint(20, 30) * SEC

        def step() -> int:
            nonlocal t
            t += rng.randint(100, 2000)
            return t

        return self._new_contact(channel.medium, t, step)

    def _conversation(self, t0: int, flow: str, opts: dict[str, Any]) -> None:
        rng = self.rng
        channel = self._pick_channel(flow, opts)
        contact = self._contact_for(channel, t0)
        self.n_conv += 1
        conv_id = f"conv-{self.n_conv:06d}"
        language = self._weighted(_LANGUAGES)
        if channel.channel_id == "channel-05" and language is not None:
            language = "es"
        public = channel.medium in _PUBLIC_MEDIA and (opts.get("public") or rng.random() < 0.3)
        post_url = self._post_url(channel.medium) if public else None
        c = _Conv(
            conv_id,
            channel,
            contact,
            language,
            _CONTENT_LANG.get(language or "en", "en"),
            t0,
            bool(public),
            post_url,
            team=channel.team,
        )
        self._cemit(
            c,
            "conversation.created",
            {
                "conversation_id": conv_id,
                "channel_id": channel.channel_id,
                "contact_profile_id": contact.contact_id,
                "url": f"https://app.inbox.example.com/conversations/{conv_id}",
                "language": language,
            },
        )
        if flow == "proactive":
            self._flow_proactive(c, opts)
            return
        first = self._contact_says(c, (0.2, 3))
        if rng.random() < 0.08:
            self._adv(c, 0.2, 2)
            self._tag(c, first, {"kind": "SYSTEM", "id": None}, None)
        self._queue(c, "NEW_INBOUND_MESSAGE", {"kind": "SYSTEM", "id": None}, c.team, first)
        if rng.random() < 0.2:
            for _ in range(rng.randint(1, 2)):
                self._contact_says(c, (5, 60), follow_up=True)
        if (
            flow not in _VA_FLOWS
            and flow != "automation"
            and rng.random() < 0.6
            and not any(a.available_at(c.t) for a in self.agents)
        ):
            self._system_says(c, "AUTOMATION", "AUTOMATED_RESPONSE", self._text(_AUTO_REPLY))
        getattr(self, f"_flow_{flow}")(c, opts)

    def _post_url(self, medium: str) -> str:
        rng = self.rng
        if medium == "TWITTER":
            return f"https://x.com/AcmeSupport/status/{rng.randrange(10**18, 10**19)}"
        if medium == "FACEBOOK":
            return f"https://www.facebook.com/acme/posts/{rng.randrange(10**15, 10**16)}"
        if medium == "INSTAGRAM":
            code = "".join(
                rng.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ0123456789_-")
                for _ in range(11)
            )
            return f"https://www.instagram.com/p/{code}/"
        return (
            f"https://www.linkedin.com/feed/update/urn:li:activity:{rng.randrange(10**18, 10**19)}/"
        )

    # -- conversation building blocks ----------------------------------------------------

    def _message(
        self,
        c: _Conv,
        direction: str,
        sender: dict[str, Any],
        team: str | None,
        origin: str,
        outbound_type: str | None,
        system_user_type: str | None,
        content: str | None,
        *,
        private: bool = False,
    ) -> str:
        self.n_msg += 1
        msg_id = f"msg-{self.n_msg:07d}"
        public = c.public and not private
        if direction == "INBOUND":
            message_type = _PUBLIC_MEDIA[c.channel.medium] if public else "DIRECT_MESSAGE"
            c.inbound.append(msg_id)
        else:
            message_type = "PUBLIC_REPLY" if public else "DIRECT_MESSAGE"
            c.outbound.append(msg_id)
        self._cemit(
            c,
            "message.created",
            {
                "message_id": msg_id,
                "conversation_id": c.conv_id,
                "direction": direction,
                "sender": sender,
                "team_id": team,
                "message_type": message_type,
                "origin": origin,
                "outbound_type": outbound_type,
                "system_user_type": system_user_type,
                "content": content,
                "post_url": c.post_url if public else None,
            },
        )
        return msg_id

    def _contact_says(
        self,
        c: _Conv,
        after: tuple[float, float],
        *,
        follow_up: bool = False,
        text: str | None = None,
    ) -> str:
        self._adv(c, *after)
        bank = (_FOLLOW_UPS if follow_up else _INBOUND)[c.lang]
        content = text or (None if self.rng.random() < 0.04 else self._text(bank))
        sender = {"kind": "CONTACT", "id": c.contact.contact_id}
        return self._message(c, "INBOUND", sender, None, "NATIVE", None, None, content)

    def _agent_team(self, a: _Agent, c: _Conv) -> str | None:
        return None if a.team is None or self.rng.random() < 0.04 else a.team

    def _agent_says(
        self,
        c: _Conv,
        a: _Agent,
        after: tuple[float, float] = (20, 300),
        *,
        outbound_type: str = "REPLY",
        native: bool = False,
        private: bool = False,
    ) -> str:
        self._adv(c, *after, skew=1.5)
        if outbound_type == "PROACTIVE":
            content = self._text(_PROACTIVE)
        else:
            content = self._text(_AGENT_REPLIES.get(c.lang, _AGENT_REPLIES["en"]))
        if native or (not private and self.rng.random() < 0.03):
            # Replied natively on the platform: the inbox cannot tell which agent it was.
            return self._message(
                c,
                "OUTBOUND",
                {"kind": "AGENT", "id": None},
                None,
                "NATIVE",
                outbound_type,
                None,
                content,
                private=private,
            )
        return self._message(
            c,
            "OUTBOUND",
            {"kind": "AGENT", "id": a.agent_id},
            self._agent_team(a, c),
            "INBOX",
            outbound_type,
            None,
            content,
            private=private,
        )

    def _system_says(self, c: _Conv, system_user_type: str, outbound_type: str, text: str) -> str:
        self._adv(c, 1, 4)
        origin = "API" if system_user_type == "API_INTEGRATION" else "AUTOMATION"
        return self._message(
            c,
            "OUTBOUND",
            {"kind": "SYSTEM", "id": None},
            None,
            origin,
            outbound_type,
            system_user_type,
            text,
            private=True,
        )

    def _va_says(self, c: _Conv, va: str, outbound_type: str = "REPLY") -> str:
        self._adv(c, 1, 5)
        return self._message(
            c,
            "OUTBOUND",
            {"kind": "VIRTUAL_AGENT", "id": va},
            None,
            "AUTOMATION",
            outbound_type,
            None,
            self.rng.choice(_VA_REPLIES),
        )

    def _queue(
        self,
        c: _Conv,
        started_by: str,
        actor: dict[str, Any],
        team: str | None,
        inbound: str | None,
        handover_reason: str | None = None,
    ) -> None:
        self._adv(c, 0.05, 1.5)
        self._cemit(
            c,
            "conversation.status_changed",
            {
                "conversation_id": c.conv_id,
                "status": "NEW",
                "actor": actor,
                "team_id": team,
                "started_by": started_by,
                "inbound_message_id": inbound,
                "handover_reason": handover_reason,
            },
        )

    def _pending(self, c: _Conv, a: _Agent) -> None:
        self._adv(c, 5, 90)
        self._cemit(
            c,
            "conversation.status_changed",
            {
                "conversation_id": c.conv_id,
                "status": "PENDING",
                "actor": {"kind": "AGENT", "id": a.agent_id},
                "team_id": self._agent_team(a, c),
            },
        )

    def _resolve(
        self,
        c: _Conv,
        actor: dict[str, Any],
        team: str | None,
        trigger: str,
        reason: str | None = None,
        comment: str | None = None,
    ) -> None:
        self._cemit(
            c,
            "conversation.status_changed",
            {
                "conversation_id": c.conv_id,
                "status": "RESOLVED",
                "actor": actor,
                "team_id": team,
                "resolve_reason": reason,
                "resolve_comment": comment,
                "resolve_trigger": trigger,
            },
        )

    def _resolve_by_agent(self, c: _Conv, a: _Agent, reason: str | None = None) -> None:
        rng = self.rng
        self._adv(c, 5, 120)
        if reason is None and rng.random() < 0.35:
            reason = rng.choice(_RESOLVE_REASONS)
        comment = self._text(_RESOLVE_COMMENTS) if rng.random() < 0.15 else None
        self._resolve(
            c,
            {"kind": "AGENT", "id": a.agent_id},
            self._agent_team(a, c),
            "HUMAN_AGENT",
            reason,
            comment,
        )

    def _lock(self, c: _Conv, a: _Agent, team: str | None = None) -> None:
        if team is None and a.team is not None and self.rng.random() < 0.88:
            team = a.team
        self._cemit(
            c,
            "conversation.locked",
            {"conversation_id": c.conv_id, "agent_id": a.agent_id, "team_id": team},
        )

    def _lock_next(
        self,
        c: _Conv,
        wait: tuple[float, float] = (20, 2400),
        *,
        exclude: _Agent | None = None,
        team: str | None = None,
        prefer: _Agent | None = None,
    ) -> _Agent:
        t = c.t + self._dur(*wait, skew=2.5)
        agent, t = self._pick_agent(t, exclude=exclude, team=team, prefer=prefer)
        c.t = t
        self._lock(c, agent, team)
        return agent

    def _unlock(self, c: _Conv, a: _Agent, after: tuple[float, float] = (5, 60)) -> None:
        self._adv(c, *after)
        self._cemit(
            c, "conversation.unlocked", {"conversation_id": c.conv_id, "agent_id": a.agent_id}
        )

    def _tag(
        self, c: _Conv, msg: str, actor: dict[str, Any], team: str | None, tag_id: str | None = None
    ) -> str | None:
        if msg in c.deleted:
            return None
        current = c.msg_tags.setdefault(msg, [])
        if tag_id in current:
            return None
        if tag_id is None:
            choices = [
                x.label_id for x in self.tags if x.label_id not in current and x.active_at(c.t)
            ]
            if not choices:
                return None
            tag_id = self.rng.choice(choices)
        current.append(tag_id)
        self._cemit(
            c,
            "message.tag_added",
            {
                "message_id": msg,
                "conversation_id": c.conv_id,
                "tag_id": tag_id,
                "actor": actor,
                "team_id": team,
            },
        )
        return tag_id

    def _untag(self, c: _Conv, msg: str, actor: dict[str, Any], team: str | None) -> str | None:
        current = c.msg_tags.get(msg)
        if not current or msg in c.deleted:
            return None
        tag_id = current.pop(self.rng.randrange(len(current)))
        self._cemit(
            c,
            "message.tag_removed",
            {
                "message_id": msg,
                "conversation_id": c.conv_id,
                "tag_id": tag_id,
                "actor": actor,
                "team_id": team,
            },
        )
        return tag_id

    def _topic(
        self, c: _Conv, actor: dict[str, Any], team: str | None, *, remove: bool = False
    ) -> None:
        if remove:
            if not c.topics:
                return
            topic_id = c.topics.pop(self.rng.randrange(len(c.topics)))
        else:
            choices = [
                x.label_id for x in self.topics if x.label_id not in c.topics and x.active_at(c.t)
            ]
            if not choices:
                return
            topic_id = self.rng.choice(choices)
            c.topics.append(topic_id)
        self._cemit(
            c,
            "conversation.topic_removed" if remove else "conversation.topic_added",
            {"conversation_id": c.conv_id, "topic_id": topic_id, "actor": actor, "team_id": team},
        )

    def _work(self, c: _Conv, a: _Agent, *, full: bool = False, reply: bool = True) -> None:
        """The locked agent reads, tags, replies (exchanging with the contact) and classifies."""
        rng = self.rng
        r = rng.random
        actor = {"kind": "AGENT", "id": a.agent_id}
        self._adv(c, 10, 240, skew=1.5)
        tagged = c.inbound[-1] if c.inbound else None
        if tagged and (full or r() < 0.45):
            self._tag(c, tagged, actor, self._agent_team(a, c))
            if full:
                self._adv(c, 1, 5)
                self._tag(c, tagged, actor, self._agent_team(a, c))
        if full or (c.language is None and r() < 0.3) or r() < 0.03:
            self._adv(c, 1, 20)
            language = "es" if c.language in (None, "en") else "en"
            c.language = language
            self._cemit(
                c,
                "conversation.language_set",
                {"conversation_id": c.conv_id, "language": language},
            )
        if not reply:
            return
        self._agent_says(c, a)
        for exchange in range(2 if full else rng.choice((0, 0, 0, 1, 1, 2))):
            msg = self._contact_says(c, (20, 900), follow_up=True)
            if (full or r() < 0.03) and c.channel.medium in ("WHATSAPP", "FACEBOOK", "INSTAGRAM"):
                # The contact edits it, or the platform updates it without new content
                # (a reaction, a delivery status).
                self._adv(c, 5, 120)
                body: dict[str, Any] = {"message_id": msg, "conversation_id": c.conv_id}
                if exchange == 1 if full else r() < 0.5:
                    body["content"] = self._text(_FOLLOW_UPS[c.lang]) + " (edited)"
                self._cemit(c, "message.updated", body)
            self._agent_says(c, a, (10, 300), private=c.public and r() < 0.2)
        team = self._agent_team(a, c)
        for _ in range(2 if full else self._weighted(((0, 35), (1, 55), (2, 10)))):
            self._adv(c, 2, 30)
            self._topic(c, actor, team)
        if full or r() < 0.06:
            self._adv(c, 2, 30)
            self._topic(c, actor, team, remove=True)
        if tagged and (full or r() < 0.05):
            self._adv(c, 2, 30)
            removed = self._untag(c, tagged, actor, team)
            if removed and (full or r() < 0.5):
                self._adv(c, 10, 120)
                if any(x.label_id == removed and x.active_at(c.t) for x in self.tags):
                    self._tag(c, tagged, actor, team, removed)
        if c.outbound and (full or r() < 0.03):
            self._adv(c, 5, 60)
            self._cemit(
                c,
                "message.updated",
                {
                    "message_id": c.outbound[-1],
                    "conversation_id": c.conv_id,
                    "content": self._text(_AGENT_REPLIES["en"]) + " (edited)",
                },
            )
        if full or r() < 0.02:
            target = c.inbound[0] if full or not c.public else c.outbound[-1]
            if target not in c.deleted:
                self._adv(c, 5, 60)
                c.deleted.append(target)
                self._cemit(
                    c, "message.deleted", {"message_id": target, "conversation_id": c.conv_id}
                )
        if full or r() < 0.06:
            attribute = rng.choice(_ATTRIBUTES)
            self._adv(c, 5, 60)
            self._set_attribute(c.contact, c.t, attribute, null=full)
            if full:  # cleared by mistake, then filled in again
                self._adv(c, 1, 10)
                self._set_attribute(c.contact, c.t, attribute)
        if full:
            self._adv(c, 1, 10)
            c.contact.secondary = c.contact.secondary or "Verified customer"
            self._cemit(c, "contact.upserted", self._contact_body(c.contact))

    def _after_resolution(
        self, c: _Conv, *, force: bool = False, p: float = 0.4, followup: bool | None = None
    ) -> None:
        """Maybe a CSAT survey, maybe answered; ``followup`` None = random follow-ups."""
        rng = self.rng
        if not force and rng.random() >= p:
            return
        self._adv(c, 5, 120)
        self.n_survey += 1
        survey = f"survey-{self.n_survey:06d}"
        self._cemit(c, "csat.sent", {"conversation_id": c.conv_id, "survey_id": survey})
        if not force and rng.random() >= 0.45:
            return
        self._adv(c, 60, 1200 if force else 4 * 3600, skew=2)
        score = self._weighted(((1, 8), (2, 7), (3, 15), (4, 30), (5, 40)))
        question = (
            None
            if followup is False or (followup is None and rng.random() < 0.25)
            else ("What could we have done better?" if score <= 3 else "What did you like most?")
        )
        answer = (
            None
            if question is None or (followup is None and rng.random() < 0.3)
            else rng.choice(
                ("Faster answers please", "The agent was super friendly!", "Nothing 🙂", "=1+1")
            )
        )
        self._cemit(
            c,
            "csat.responded",
            {
                "conversation_id": c.conv_id,
                "survey_id": survey,
                "score": score,
                "followup_question": question,
                "followup_answer": answer,
            },
        )

    def _reopen_by_contact(self, c: _Conv, after: tuple[float, float]) -> None:
        msg = self._contact_says(c, after, follow_up=True)
        self._queue(c, "REOPENED", {"kind": "SYSTEM", "id": None}, c.team, msg)

    def _finish(self, c: _Conv, a: _Agent, *, full: bool = False) -> None:
        self._work(c, a, full=full)
        self._resolve_by_agent(c, a)
        self._after_resolution(c, force=full, followup=True if full else None)

    # -- flows (each starts right after the queue entry of the first inbound message) ----

    def _flow_standard(self, c: _Conv, opts: dict[str, Any]) -> None:
        full = bool(opts.get("full"))
        a = self._lock_next(c)
        if not full and self.rng.random() < 0.08:
            # Replies, lets the lock go while waiting for the contact, picks it up again.
            self._work(c, a)
            self._unlock(c, a)
            self._contact_says(c, (60, 3600), follow_up=True)
            a = self._lock_next(c, (10, 600), prefer=a)
            self._agent_says(c, a)
            self._resolve_by_agent(c, a)
            self._after_resolution(c)
            return
        self._finish(c, a, full=full)

    def _flow_pending_reopen(self, c: _Conv, opts: dict[str, Any]) -> None:
        force = bool(opts.get("force"))
        a = self._lock_next(c)
        self._work(c, a)
        self._pending(c, a)
        self._reopen_by_contact(c, (600, 3600) if force else (600, 16 * 3600))
        self._finish(c, self._lock_next(c, prefer=a))

    def _flow_pending_autoresolve(self, c: _Conv, opts: dict[str, Any]) -> None:
        a = self._lock_next(c)
        self._work(c, a)
        self._pending(c, a)
        c.t += AUTO_RESOLVE_AFTER + self._dur(1, 90)
        self._resolve(c, {"kind": "SYSTEM", "id": None}, None, "AUTO_RESOLVE", "INACTIVITY")

    def _flow_pending_followup(self, c: _Conv, opts: dict[str, Any]) -> None:
        force = bool(opts.get("force"))
        a = self._lock_next(c)
        self._work(c, a)
        self._pending(c, a)
        self._adv(c, 1800, 5400 if force else 20 * 3600)
        if force or self.rng.random() < 0.5:
            self._system_says(c, "API_INTEGRATION", "PROACTIVE", self._text(_API_MESSAGES))
        b, c.t = self._pick_agent(c.t + self._dur(60, 1800), prefer=a)
        self._agent_says(c, b, (1, 5), outbound_type="PROACTIVE", private=True)
        self._resolve_by_agent(c, b)
        self._after_resolution(c)

    def _flow_no_reply_resolve(self, c: _Conv, opts: dict[str, Any]) -> None:
        rng = self.rng
        reason = rng.choice(("SPAM", "DUPLICATE", "NO_ACTION_NEEDED", None))
        if opts.get("force") or rng.random() < 0.75:
            a = self._lock_next(c)
            self._work(c, a, reply=False)
        else:  # straight from the queue list, without opening it
            a, c.t = self._pick_agent(c.t + self._dur(60, 3600, 2))
        if reason == "SPAM" and c.inbound:
            self._adv(c, 2, 20)
            self._tag(
                c,
                c.inbound[0],
                {"kind": "AGENT", "id": a.agent_id},
                self._agent_team(a, c),
                next(
                    (
                        x.label_id
                        for x in self.tags
                        if x.name.lower().startswith("spam") and x.active_at(c.t)
                    ),
                    None,
                ),
            )
        self._resolve_by_agent(c, a, reason)

    def _flow_cherry_pick(self, c: _Conv, opts: dict[str, Any]) -> None:
        a = self._lock_next(c)
        self._unlock(c, a, (5, 120))
        b = self._lock_next(c, (30, 1800), exclude=a)
        self._finish(c, b)

    def _flow_takeover(self, c: _Conv, opts: dict[str, Any]) -> None:
        a = self._lock_next(c)
        if self.rng.random() < 0.4:
            self._agent_says(c, a)
        b = self._lock_next(c, (120, 1500), exclude=a)
        self._finish(c, b)

    def _flow_lock_expiry(self, c: _Conv, opts: dict[str, Any]) -> None:
        a = self._lock_next(c)
        locked = c.t
        if opts.get("force") or self.rng.random() < 0.5:
            self._contact_says(c, (1800, 5400), follow_up=True)
        c.t = max(c.t, locked + self.cfg.lock_max_seconds * SEC) + self._dur(300, 3000)
        b = self._lock_next(c, (1, 60), exclude=a)
        self._finish(c, b)

    def _flow_repeat_lock(self, c: _Conv, opts: dict[str, Any]) -> None:
        a = self._lock_next(c)
        self._adv(c, 30, 600)
        self._lock(c, a)
        self._finish(c, a)

    def _flow_transfer(self, c: _Conv, opts: dict[str, Any]) -> None:
        rng = self.rng
        a = self._lock_next(c)
        if rng.random() < 0.7:
            self._agent_says(c, a)
        others = [tid for tid, _ in self.teams if tid != a.team] or [self.teams[0][0]]
        c.team = rng.choice(others)
        self._adv(c, 10, 120)
        self._queue(c, "TRANSFERRED", {"kind": "AGENT", "id": a.agent_id}, c.team, None)
        b = self._lock_next(c, exclude=a, team=c.team)
        self._finish(c, b)

    def _flow_manual_requeue(self, c: _Conv, opts: dict[str, Any]) -> None:
        force = bool(opts.get("force"))
        a = self._lock_next(c)
        self._work(c, a)
        self._pending(c, a)
        supervisor, c.t = self._pick_agent(c.t + self._dur(1200, 3600 if force else 3 * 3600))
        self._queue(
            c,
            "MANUAL",
            {"kind": "AGENT", "id": supervisor.agent_id},
            self._agent_team(supervisor, c),
            None,
        )
        self._finish(c, self._lock_next(c, prefer=a))

    def _flow_bulk_resolve(self, c: _Conv, opts: dict[str, Any]) -> None:
        hi = 3600 if opts.get("force") else 5 * 3600
        a, c.t = self._pick_agent(c.t + self._dur(1200, hi))
        self._resolve(
            c,
            {"kind": "BULK", "id": a.agent_id},
            None,
            "HUMAN_AGENT",
            self.rng.choice((None, "BULK_CLEANUP")),
        )

    def _flow_automation(self, c: _Conv, opts: dict[str, Any]) -> None:
        rng = self.rng
        system = {"kind": "SYSTEM", "id": None}
        self._adv(c, 0.5, 3)
        spam = next(
            (
                x.label_id
                for x in self.tags
                if x.name.lower().startswith("spam") and x.active_at(c.t)
            ),
            None,
        )
        self._tag(c, c.inbound[0], system, None, spam)
        if opts.get("force") or rng.random() < 0.5:
            self._system_says(c, "AUTOMATION", "AUTOMATED_RESPONSE", self._text(_AUTO_REPLY))
        if opts.get("force") or rng.random() < 0.3:
            self._adv(c, 0.5, 3)
            self._topic(c, system, None)
        self._adv(c, 1, 10)
        self._resolve(c, system, None, "AUTOMATION", "AUTOMATION_RULE")

    def _flow_resolved_again(self, c: _Conv, opts: dict[str, Any]) -> None:
        force = bool(opts.get("force"))
        a = self._lock_next(c)
        self._finish(c, a)
        for cycle in range(2 if force or self.rng.random() < 0.3 else 1):
            if cycle == 0 and (force or self.rng.random() < 0.7):
                self._reopen_by_contact(c, (600, 2400) if force else (600, 6 * 3600))
            else:  # a supervisor reopens it by hand
                s, c.t = self._pick_agent(c.t + self._dur(600, 2400 if force else 6 * 3600))
                self._queue(c, "MANUAL", {"kind": "AGENT", "id": s.agent_id}, s.team, None)
            a = self._lock_next(c, prefer=a)
            self._finish(c, a)

    def _flow_abandoned(self, c: _Conv, opts: dict[str, Any]) -> None:
        if opts.get("force") or self.rng.random() < 0.5:
            self._contact_says(c, (300, 3600), follow_up=True, text="Hello?? Anyone there?")

    def _flow_proactive(self, c: _Conv, opts: dict[str, Any]) -> None:
        force = bool(opts.get("force"))
        a, c.t = self._pick_agent(c.t + self._dur(1, 5))
        self._lock(c, a)
        self._agent_says(c, a, (20, 120), outbound_type="PROACTIVE", private=True)
        self._unlock(c, a, (2, 30))
        if not force and self.rng.random() < 0.25:
            return
        first = self._contact_says(c, (300, 1800 if force else 3 * 3600), follow_up=True)
        self._queue(c, "NEW_INBOUND_MESSAGE", {"kind": "SYSTEM", "id": None}, c.team, first)
        self._finish(c, self._lock_next(c, prefer=a))

    def _flow_va_resolve(self, c: _Conv, opts: dict[str, Any]) -> None:
        va = c.channel.va or _VIRTUAL_AGENTS[0][0]
        self._va_conversation(c, va, self.rng.randint(1, 3), force=bool(opts.get("force")))
        self._va_says(c, va, "AUTOMATED_RESPONSE")
        self._adv(c, 5, 60)
        self._resolve(
            c,
            {"kind": "VIRTUAL_AGENT", "id": va},
            None,
            "VIRTUAL_AGENT",
            self.rng.choice((None, "SELF_SERVICE")),
        )
        # The virtual agent's survey is a bare rating, without a follow-up question.
        self._after_resolution(c, force=bool(opts.get("force")), p=0.3, followup=False)

    def _flow_va_handover(self, c: _Conv, opts: dict[str, Any]) -> None:
        rng = self.rng
        va = c.channel.va or _VIRTUAL_AGENTS[0][0]
        reason = opts.get("reason") or self._weighted(_HANDOVER_REASONS)
        if reason == "ERROR" and rng.random() < 0.5:
            self._adv(c, 1, 10)  # the bot failed before answering
        else:
            self._va_conversation(
                c, va, 1 if reason == "ERROR" else rng.randint(1, 3), force=bool(opts.get("force"))
            )
        if reason == "CONTACT_REQUESTED":
            self._contact_says(c, (5, 60), text="I want to talk to a human agent")
        if reason != "ERROR":
            self._va_says(c, va, "AUTOMATED_RESPONSE")
        self._queue(
            c,
            "VA_HANDED_OVER_CONVERSATION",
            {"kind": "VIRTUAL_AGENT", "id": va},
            c.team,
            c.inbound[-1],
            reason,
        )
        flow = "standard" if opts.get("force") else self._weighted(_HUMAN_AFTER_HANDOVER)
        getattr(self, f"_flow_{flow}")(c, {})

    def _va_conversation(self, c: _Conv, va: str, rounds: int, *, force: bool) -> None:
        rng = self.rng
        actor = {"kind": "VIRTUAL_AGENT", "id": va}
        for i in range(rounds):
            self._va_says(c, va)
            if force or rng.random() < 0.3:
                self._adv(c, 0.5, 2)
                self._tag(c, c.inbound[-1], actor, None)
                if rng.random() < 0.1:  # re-classified once the intent is clearer
                    self._adv(c, 0.5, 2)
                    self._untag(c, c.inbound[-1], actor, None)
                    self._adv(c, 0.1, 1)
                    self._tag(c, c.inbound[-1], actor, None)
            if i < rounds - 1:
                self._contact_says(c, (10, 120), follow_up=True)
        if force or rng.random() < 0.4:
            self._adv(c, 0.5, 2)
            self._topic(c, actor, None)

    # -- malformed lines -----------------------------------------------------------------

    def _malformed(self, t: int) -> tuple[str, bytes]:
        """A bad line near time ``t``; its event_id (when any) starts with ``bad-``."""
        nr = self.noise
        self.n_bad += 1
        bad_id = f"bad-{self.cfg.seed}-{self.n_bad:06d}"
        kind = nr.choice(MALFORMED_KINDS)
        if kind == "csat_score":
            template = _BAD_TEMPLATES[-1]
        elif kind == "invalid_enum":
            template = nr.choice([x for x in _BAD_TEMPLATES if x[4]])
        else:
            template = nr.choice(_BAD_TEMPLATES)
        etype, body, required, wrong, enums = template
        stamp = _iso(_from_ms(t))
        event: dict[str, Any] = {"event_id": bad_id, "type": etype, "occurred_at": stamp, **body}
        if kind == "not_json":
            raw = nr.choice(_NOT_JSON).replace(b"{id}", bad_id.encode())
            return kind, raw
        if kind == "truncated":
            raw = orjson.dumps(event)
            return kind, raw[: nr.randint(1, len(raw) - 2)]
        if kind == "not_object":
            choice = nr.randrange(5)
            if choice == 0:
                return kind, orjson.dumps([event])
            return kind, (b"42", b"3.5", b'"message.created"', b"null")[choice - 1]
        if kind == "missing_field":
            del event[nr.choice(("event_id", "type", "occurred_at", *required))]
        elif kind == "wrong_type":
            name, value = nr.choice((("v", "1"), ("occurred_at", t), *wrong))
            event[name] = value
        elif kind == "unknown_type":
            event["type"] = nr.choice(
                (
                    "conversation.archived",
                    "message.reacted",
                    "agent.deleted",
                    "Message.Created",
                    "contact.merged",
                    "",
                )
            )
        elif kind == "invalid_enum":
            name, value = nr.choice(enums)
            event[name] = value
        elif kind == "bad_timestamp":
            naive = stamp[:-1]
            event["occurred_at"] = nr.choice(
                (
                    naive,
                    naive[:-4],
                    stamp[:10] + "T25:10:00Z",
                    "2026-11-31T10:00:00Z",
                    "yesterday at noon",
                    "",
                    stamp[8:10] + "/" + stamp[5:7] + "/" + stamp[:4],
                    str(t // 1000),
                )
            )
        elif kind == "bad_event_id":
            event["event_id"] = (
                "" if nr.random() < 0.4 else bad_id + "-" + "x" * nr.randint(120, 200)
            )
        else:  # csat_score
            event["score"] = nr.choice((0, 6))
        return kind, orjson.dumps(event)


# (type, body, required non-null fields, wrong-type replacements, invalid enum replacements)
_BadTemplate = tuple[
    str, dict[str, Any], tuple[str, ...], tuple[tuple[str, Any], ...], tuple[tuple[str, Any], ...]
]
_BAD_TEMPLATES: Final[tuple[_BadTemplate, ...]] = (
    (
        "message.created",
        {"message_id": "msg-bad", "conversation_id": "conv-000001", "direction": "INBOUND",
         "sender": {"kind": "CONTACT", "id": "contact-000001"}, "team_id": None,
         "message_type": "DIRECT_MESSAGE", "origin": "NATIVE", "outbound_type": None,
         "system_user_type": None, "content": "hello?", "post_url": None},
        ("message_id", "conversation_id", "direction", "sender", "message_type", "origin"),
        (("conversation_id", 12345), ("sender", "CONTACT"), ("content", {"text": "hi"}),
         ("message_type", ["DIRECT_MESSAGE"])),
        (("direction", "SIDEWAYS"), ("sender", {"kind": "BOT", "id": None})),
    ),
    (
        "conversation.status_changed",
        {"conversation_id": "conv-000001", "status": "NEW", "actor": {"kind": "SYSTEM", "id": None},
         "team_id": None, "started_by": "NEW_INBOUND_MESSAGE", "inbound_message_id": "msg-bad",
         "handover_reason": None},
        ("conversation_id", "status", "actor", "started_by"),
        (("actor", "SYSTEM"), ("team_id", 3), ("status", None)),
        (("status", "CLOSED"), ("started_by", "MAGIC"), ("actor", {"kind": "ROBOT", "id": None})),
    ),
    (
        "conversation.status_changed",
        {"conversation_id": "conv-000001", "status": "RESOLVED",
         "actor": {"kind": "AGENT", "id": "agent-001"}, "team_id": "team-01",
         "resolve_reason": None, "resolve_comment": None, "resolve_trigger": "HUMAN_AGENT"},
        ("conversation_id", "status", "actor", "resolve_trigger"),
        (("resolve_comment", 7), ("actor", ["AGENT"])),
        (("resolve_trigger", "TIMEOUT"), ("status", "DONE")),
    ),
    (
        "conversation.locked",
        {"conversation_id": "conv-000001", "agent_id": "agent-001", "team_id": "team-01"},
        ("conversation_id", "agent_id"),
        (("agent_id", 7), ("agent_id", None), ("team_id", ["team-01"])),
        (),
    ),
    (
        "agent.presence_changed",
        {"agent_id": "agent-001", "presence": "AWAY", "away_status": "Lunch"},
        ("agent_id", "presence"),
        (("away_status", 5), ("agent_id", {"id": "agent-001"})),
        (("presence", "BUSY"), ("presence", "available")),
    ),
    (
        "contact.upserted",
        {"contact_profile_id": "contact-000001", "medium": "SMS",
         "primary_identifier": "+15550000000", "secondary_identifier": None},
        ("contact_profile_id", "medium", "primary_identifier"),
        (("primary_identifier", 15550000000), ("secondary_identifier", False)),
        (),
    ),
    (
        "csat.responded",
        {"conversation_id": "conv-000001", "survey_id": "survey-bad", "score": 4,
         "followup_question": None, "followup_answer": None},
        ("conversation_id", "survey_id", "score"),
        (("score", "5"), ("score", 4.5), ("followup_answer", 3)),
        (),
    ),
)  # fmt: skip
_NOT_JSON: Final = (
    b"not json at all",
    b"{event_id: '{id}', type: 'message.created'}",
    b"\xff\xfe\x00garbage\x00",
    b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    b"event_id={id}&type=message.created",
    b'{"event_id": "{id}", "type": "message.created",}',
    b'{"event_id": "{id}"}{"type": "tag.deleted"}',
)


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def simulate(config: SimulationConfig) -> Iterator[bytes]:
    """JSON lines (bytes, no line end) in arrival order; see SimulationConfig for the noise."""
    for record in _Simulator(config).records():
        yield record[5]


def _write(config: SimulationConfig, out: IO[bytes]) -> SimulationSummary:
    counts = dict.fromkeys(EVENT_TYPES, 0)
    bad = dict.fromkeys(MALFORMED_KINDS, 0)
    duplicates = lines = 0
    first = last = None
    chunk: list[bytes] = []
    for _arrival, _seq, kind, name, occ, line in _Simulator(config).records():
        chunk.append(line)
        lines += 1
        if kind == _VALID:
            counts[name] += 1
            first = occ if first is None or occ < first else first
            last = occ if last is None or occ > last else last
        elif kind == _DUPLICATE:
            duplicates += 1
        else:
            bad[name] += 1
        if len(chunk) >= 4096:
            out.write(b"\n".join(chunk) + b"\n")
            chunk.clear()
    if chunk:
        out.write(b"\n".join(chunk) + b"\n")
    return SimulationSummary(
        counts=counts,
        duplicates=duplicates,
        malformed=sum(bad.values()),
        malformed_by_kind=bad,
        lines=lines,
        first_occurred_at=None if first is None else _from_ms(first),
        last_occurred_at=None if last is None else _from_ms(last),
    )


def write_jsonl(config: SimulationConfig, path: str | PathLike[str]) -> SimulationSummary:
    """Write the simulation to ``path`` (one line per event, ``\\n`` ends) and summarise it."""
    with open(path, "wb") as out:
        return _write(config, out)


_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_start(value: str) -> datetime:
    """``YYYY-MM-DD`` (midnight UTC) or an RFC 3339 datetime with ``Z`` or an offset."""
    try:
        if _DATE_ONLY.fullmatch(value):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise ValueError(
            f"must be a date YYYY-MM-DD or an RFC 3339 datetime with Z or an offset, got {value!r}"
        )
    return moment


_OPTION_OF_FIELD: Final = {
    "seed": "--seed", "days": "--days", "conversations": "--conversations",
    "duplicates": "--duplicates", "shuffle_seconds": "--shuffle-seconds",
    "malformed": "--malformed", "start": "--start", "agents": "--agents", "teams": "--teams",
}  # fmt: skip


@click.command("simulate")
@click.option(
    "--seed", type=int, required=True, help="Random seed (integer >= 0); same seed, same bytes."
)
@click.option("--days", type=int, default=1, show_default=True, help="Days to simulate (1..3660).")
@click.option(
    "--conversations",
    type=int,
    default=200,
    show_default=True,
    help="New conversations per day (1..100000).",
)
@click.option(
    "--duplicates",
    type=float,
    default=0.05,
    show_default=True,
    help="Probability in [0, 1) that an event is delivered twice.",
)
@click.option(
    "--shuffle-seconds",
    type=int,
    default=300,
    show_default=True,
    help="Max arrival delay after occurred_at, in seconds (0..86400).",
)
@click.option(
    "--malformed",
    type=float,
    default=0.005,
    show_default=True,
    help="Probability in [0, 1), per event, of a bad line next to it.",
)
@click.option(
    "--start",
    default="2026-11-02",
    show_default=True,
    help="Start: YYYY-MM-DD (midnight UTC) or an RFC 3339 datetime.",
)
@click.option("--agents", type=int, default=12, show_default=True, help="Initial agents (2..999).")
@click.option("--teams", type=int, default=3, show_default=True, help="Teams (1..min(agents, 99)).")
@click.option("--out", required=True, help="Output JSON-lines file; '-' for stdout.")
def simulate_command(
    seed: int, days: int, conversations: int, duplicates: float, shuffle_seconds: int,
    malformed: float, start: str, agents: int, teams: int, out: str,
) -> None:  # fmt: skip
    """Generate a deterministic, realistic stream of inbox events (JSON lines, docs/events.md).

    Events arrive slightly out of order (up to --shuffle-seconds), some twice, and a few
    lines are malformed, as a real upstream would deliver them. A summary goes to stderr.
    """
    try:
        start_at = parse_start(start)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--start'") from None
    try:
        config = SimulationConfig(
            seed=seed,
            days=days,
            conversations=conversations,
            duplicates=duplicates,
            shuffle_seconds=shuffle_seconds,
            malformed=malformed,
            start=start_at,
            agents=agents,
            teams=teams,
        )
    except SimulationConfigError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{_OPTION_OF_FIELD[exc.field]}'") from None
    if out == "-":
        summary = _write(config, click.get_binary_stream("stdout"))
    else:
        try:
            summary = write_jsonl(config, out)
        except OSError as exc:
            raise click.FileError(out, hint=exc.strerror or str(exc)) from None
    click.echo(summary.format_table(), err=True)
