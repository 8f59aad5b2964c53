"""The scenarios: each day's conversations, the flow each one plays, and the whole run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from streamproc.testing.simulate.config import AUTO_RESOLVE_AFTER, DAY, HOUR, MIN, SEC, from_ms
from streamproc.testing.simulate.conversations import Conversation, Conversations
from streamproc.testing.simulate.reference import (
    API_MESSAGES,
    AUTO_REPLY,
    CONTENT_LANG,
    FLOWS,
    FORCED,
    HANDOVER_REASONS,
    HOUR_WEIGHTS,
    HUMAN_AFTER_HANDOVER,
    LANGUAGES,
    PUBLIC_MEDIA,
    VA_FLOWS,
    VIRTUAL_AGENTS,
)
from streamproc.testing.simulate.stream import Record


class Simulator(Conversations):
    """Builds the world, then generates conversations day by day into an arrival-ordered heap."""

    def records(self) -> Iterator[Record]:
        """The whole run, in arrival order: the directory, presence plans, then day by day
        the conversations (a day's records are flushed up to a minute before its end)."""
        setup_end = self._setup()
        self._plan_directory()
        self._plan_presence(setup_end)
        for day in range(self.cfg.days):
            self._day(day, setup_end)
            self.floor = self.start + (day + 1) * DAY - MIN
            yield from self._flush(self.floor)
        yield from self._flush(None)

    def _day(self, day: int, setup_end: int) -> None:
        rng = self.rng
        ws = self.start + day * DAY
        lo = max(ws, setup_end + 2 * MIN)
        n = self.cfg.conversations
        forced = FORCED[: min(len(FORCED), n)] if day == 0 else ()
        starts: list[tuple[int, str | None, dict[str, Any]]] = []
        for i, (flow, opts) in enumerate(forced):
            t = ws + int(DAY * (0.25 + 0.30 * i / len(forced))) + rng.randint(0, 5 * MIN)
            starts.append((t, flow, opts))
        hours = [HOUR_WEIGHTS[from_ms(ws + h * HOUR).hour] for h in range(24)]
        for _ in range(n - len(forced)):
            h = rng.choices(range(24), weights=hours)[0]
            at = max(lo + rng.randint(0, 10 * MIN), ws + h * HOUR + rng.randint(0, HOUR - 1))
            starts.append((at, None, {}))
        starts.sort(key=lambda x: x[0])
        for at, chosen, options in starts:
            self._conversation(at, chosen or self._weighted(FLOWS), options)

    def _conversation(self, t0: int, flow: str, opts: dict[str, Any]) -> None:
        rng = self.rng
        channel = self._pick_channel(flow, opts)
        contact = self._contact_for(channel, t0)
        self.n_conv += 1
        conv_id = f"conv-{self.n_conv:06d}"
        language = self._weighted(LANGUAGES)
        if channel.channel_id == "channel-05" and language is not None:
            language = "es"
        public = channel.medium in PUBLIC_MEDIA and (opts.get("public") or rng.random() < 0.3)
        post_url = self._post_url(channel.medium) if public else None
        c = Conversation(
            conv_id,
            channel,
            contact,
            language,
            CONTENT_LANG.get(language or "en", "en"),
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
            flow not in VA_FLOWS
            and flow != "automation"
            and rng.random() < 0.6
            and not any(a.available_at(c.t) for a in self.agents)
        ):
            self._system_says(c, "AUTOMATION", "AUTOMATED_RESPONSE", self._text(AUTO_REPLY))
        getattr(self, f"_flow_{flow}")(c, opts)

    # The flows: each starts right after the queue entry of the first inbound message.

    def _flow_standard(self, c: Conversation, opts: dict[str, Any]) -> None:
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

    def _flow_pending_reopen(self, c: Conversation, opts: dict[str, Any]) -> None:
        force = bool(opts.get("force"))
        a = self._lock_next(c)
        self._work(c, a)
        self._pending(c, a)
        self._reopen_by_contact(c, (600, 3600) if force else (600, 16 * 3600))
        self._finish(c, self._lock_next(c, prefer=a))

    def _flow_pending_autoresolve(self, c: Conversation, opts: dict[str, Any]) -> None:
        a = self._lock_next(c)
        self._work(c, a)
        self._pending(c, a)
        c.t += AUTO_RESOLVE_AFTER + self._dur(1, 90)
        self._resolve(c, {"kind": "SYSTEM", "id": None}, None, "AUTO_RESOLVE", "INACTIVITY")

    def _flow_pending_followup(self, c: Conversation, opts: dict[str, Any]) -> None:
        force = bool(opts.get("force"))
        a = self._lock_next(c)
        self._work(c, a)
        self._pending(c, a)
        self._adv(c, 1800, 5400 if force else 20 * 3600)
        if force or self.rng.random() < 0.5:
            self._system_says(c, "API_INTEGRATION", "PROACTIVE", self._text(API_MESSAGES))
        b, c.t = self._pick_agent(c.t + self._dur(60, 1800), prefer=a)
        self._agent_says(c, b, (1, 5), outbound_type="PROACTIVE", private=True)
        self._resolve_by_agent(c, b)
        self._after_resolution(c)

    def _flow_no_reply_resolve(self, c: Conversation, opts: dict[str, Any]) -> None:
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

    def _flow_cherry_pick(self, c: Conversation, opts: dict[str, Any]) -> None:
        a = self._lock_next(c)
        self._unlock(c, a, (5, 120))
        b = self._lock_next(c, (30, 1800), exclude=a)
        self._finish(c, b)

    def _flow_takeover(self, c: Conversation, opts: dict[str, Any]) -> None:
        a = self._lock_next(c)
        if self.rng.random() < 0.4:
            self._agent_says(c, a)
        b = self._lock_next(c, (120, 1500), exclude=a)
        self._finish(c, b)

    def _flow_lock_expiry(self, c: Conversation, opts: dict[str, Any]) -> None:
        a = self._lock_next(c)
        locked = c.t
        if opts.get("force") or self.rng.random() < 0.5:
            self._contact_says(c, (1800, 5400), follow_up=True)
        c.t = max(c.t, locked + self.cfg.lock_max_seconds * SEC) + self._dur(300, 3000)
        b = self._lock_next(c, (1, 60), exclude=a)
        self._finish(c, b)

    def _flow_repeat_lock(self, c: Conversation, opts: dict[str, Any]) -> None:
        a = self._lock_next(c)
        self._adv(c, 30, 600)
        self._lock(c, a)
        self._finish(c, a)

    def _flow_transfer(self, c: Conversation, opts: dict[str, Any]) -> None:
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

    def _flow_manual_requeue(self, c: Conversation, opts: dict[str, Any]) -> None:
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

    def _flow_bulk_resolve(self, c: Conversation, opts: dict[str, Any]) -> None:
        hi = 3600 if opts.get("force") else 5 * 3600
        a, c.t = self._pick_agent(c.t + self._dur(1200, hi))
        self._resolve(
            c,
            {"kind": "BULK", "id": a.agent_id},
            None,
            "HUMAN_AGENT",
            self.rng.choice((None, "BULK_CLEANUP")),
        )

    def _flow_automation(self, c: Conversation, opts: dict[str, Any]) -> None:
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
            self._system_says(c, "AUTOMATION", "AUTOMATED_RESPONSE", self._text(AUTO_REPLY))
        if opts.get("force") or rng.random() < 0.3:
            self._adv(c, 0.5, 3)
            self._topic(c, system, None)
        self._adv(c, 1, 10)
        self._resolve(c, system, None, "AUTOMATION", "AUTOMATION_RULE")

    def _flow_resolved_again(self, c: Conversation, opts: dict[str, Any]) -> None:
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

    def _flow_abandoned(self, c: Conversation, opts: dict[str, Any]) -> None:
        if opts.get("force") or self.rng.random() < 0.5:
            self._contact_says(c, (300, 3600), follow_up=True, text="Hello?? Anyone there?")

    def _flow_proactive(self, c: Conversation, opts: dict[str, Any]) -> None:
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

    def _flow_va_resolve(self, c: Conversation, opts: dict[str, Any]) -> None:
        va = c.channel.va or VIRTUAL_AGENTS[0][0]
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

    def _flow_va_handover(self, c: Conversation, opts: dict[str, Any]) -> None:
        rng = self.rng
        va = c.channel.va or VIRTUAL_AGENTS[0][0]
        reason = opts.get("reason") or self._weighted(HANDOVER_REASONS)
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
        flow = "standard" if opts.get("force") else self._weighted(HUMAN_AFTER_HANDOVER)
        getattr(self, f"_flow_{flow}")(c, {})

    def _va_conversation(self, c: Conversation, va: str, rounds: int, *, force: bool) -> None:
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
