"""Conversation building blocks: messages, queue entries, locks, tags, topics, resolutions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streamproc.testing.simulate.config import SEC, SimulationConfig
from streamproc.testing.simulate.directory import Agent, Channel, Contact
from streamproc.testing.simulate.presence import Presence
from streamproc.testing.simulate.reference import (
    AGENT_REPLIES,
    ATTRIBUTES,
    FOLLOW_UPS,
    INBOUND,
    PROACTIVE,
    PUBLIC_MEDIA,
    RESOLVE_COMMENTS,
    RESOLVE_REASONS,
    VA_FLOWS,
    VA_REPLIES,
)


@dataclass(slots=True)
class Conversation:
    conv_id: str
    channel: Channel
    contact: Contact
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


class Conversations(Presence):
    """What happens in a conversation, one step at a time, each strictly after the previous."""

    def __init__(self, config: SimulationConfig) -> None:
        super().__init__(config)
        self.n_msg = 0
        self.n_conv = 0
        self.n_survey = 0

    def _cemit(self, c: Conversation, etype: str, body: dict[str, Any]) -> None:
        """An event of conversation ``c`` at ``c.t``, strictly after its previous one."""
        if c.t <= c.last:
            c.t = c.last + 1
        c.last = c.t
        self._emit(c.t, etype, body)

    def _adv(self, c: Conversation, lo_s: float, hi_s: float, skew: float = 1.0) -> int:
        c.t += self._dur(lo_s, hi_s, skew)
        return c.t

    def _pick_channel(self, flow: str, opts: dict[str, Any]) -> Channel:
        if "medium" in opts:
            pool = [ch for ch in self.channels if ch.medium == opts["medium"]]
        elif flow in VA_FLOWS:
            pool = [ch for ch in self.channels if ch.va is not None]
        else:
            pool = self.channels
        weights = [ch.weight * (0.2 if ch.va and flow not in VA_FLOWS else 1.0) for ch in pool]
        return self.rng.choices(pool, weights=weights)[0]

    def _contact_for(self, channel: Channel, t0: int) -> Contact:
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

    def _message(
        self,
        c: Conversation,
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
            message_type = PUBLIC_MEDIA[c.channel.medium] if public else "DIRECT_MESSAGE"
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
        c: Conversation,
        after: tuple[float, float],
        *,
        follow_up: bool = False,
        text: str | None = None,
    ) -> str:
        self._adv(c, *after)
        bank = (FOLLOW_UPS if follow_up else INBOUND)[c.lang]
        content = text or (None if self.rng.random() < 0.04 else self._text(bank))
        sender = {"kind": "CONTACT", "id": c.contact.contact_id}
        return self._message(c, "INBOUND", sender, None, "NATIVE", None, None, content)

    def _agent_team(self, a: Agent, c: Conversation) -> str | None:
        return None if a.team is None or self.rng.random() < 0.04 else a.team

    def _agent_says(
        self,
        c: Conversation,
        a: Agent,
        after: tuple[float, float] = (20, 300),
        *,
        outbound_type: str = "REPLY",
        native: bool = False,
        private: bool = False,
    ) -> str:
        self._adv(c, *after, skew=1.5)
        if outbound_type == "PROACTIVE":
            content = self._text(PROACTIVE)
        else:
            content = self._text(AGENT_REPLIES.get(c.lang, AGENT_REPLIES["en"]))
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

    def _system_says(
        self, c: Conversation, system_user_type: str, outbound_type: str, text: str
    ) -> str:
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

    def _va_says(self, c: Conversation, va: str, outbound_type: str = "REPLY") -> str:
        self._adv(c, 1, 5)
        return self._message(
            c,
            "OUTBOUND",
            {"kind": "VIRTUAL_AGENT", "id": va},
            None,
            "AUTOMATION",
            outbound_type,
            None,
            self.rng.choice(VA_REPLIES),
        )

    def _queue(
        self,
        c: Conversation,
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

    def _pending(self, c: Conversation, a: Agent) -> None:
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
        c: Conversation,
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

    def _resolve_by_agent(self, c: Conversation, a: Agent, reason: str | None = None) -> None:
        rng = self.rng
        self._adv(c, 5, 120)
        if reason is None and rng.random() < 0.35:
            reason = rng.choice(RESOLVE_REASONS)
        comment = self._text(RESOLVE_COMMENTS) if rng.random() < 0.15 else None
        self._resolve(
            c,
            {"kind": "AGENT", "id": a.agent_id},
            self._agent_team(a, c),
            "HUMAN_AGENT",
            reason,
            comment,
        )

    def _lock(self, c: Conversation, a: Agent, team: str | None = None) -> None:
        if team is None and a.team is not None and self.rng.random() < 0.88:
            team = a.team
        self._cemit(
            c,
            "conversation.locked",
            {"conversation_id": c.conv_id, "agent_id": a.agent_id, "team_id": team},
        )

    def _lock_next(
        self,
        c: Conversation,
        wait: tuple[float, float] = (20, 2400),
        *,
        exclude: Agent | None = None,
        team: str | None = None,
        prefer: Agent | None = None,
    ) -> Agent:
        t = c.t + self._dur(*wait, skew=2.5)
        agent, t = self._pick_agent(t, exclude=exclude, team=team, prefer=prefer)
        c.t = t
        self._lock(c, agent, team)
        return agent

    def _unlock(self, c: Conversation, a: Agent, after: tuple[float, float] = (5, 60)) -> None:
        self._adv(c, *after)
        self._cemit(
            c, "conversation.unlocked", {"conversation_id": c.conv_id, "agent_id": a.agent_id}
        )

    def _tag(
        self,
        c: Conversation,
        msg: str,
        actor: dict[str, Any],
        team: str | None,
        tag_id: str | None = None,
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

    def _untag(
        self, c: Conversation, msg: str, actor: dict[str, Any], team: str | None
    ) -> str | None:
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
        self, c: Conversation, actor: dict[str, Any], team: str | None, *, remove: bool = False
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

    def _work(self, c: Conversation, a: Agent, *, full: bool = False, reply: bool = True) -> None:
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
                    body["content"] = self._text(FOLLOW_UPS[c.lang]) + " (edited)"
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
                    "content": self._text(AGENT_REPLIES["en"]) + " (edited)",
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
            attribute = rng.choice(ATTRIBUTES)
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
        self, c: Conversation, *, force: bool = False, p: float = 0.4, followup: bool | None = None
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

    def _reopen_by_contact(self, c: Conversation, after: tuple[float, float]) -> None:
        msg = self._contact_says(c, after, follow_up=True)
        self._queue(c, "REOPENED", {"kind": "SYSTEM", "id": None}, c.team, msg)

    def _finish(self, c: Conversation, a: Agent, *, full: bool = False) -> None:
        self._work(c, a, full=full)
        self._resolve_by_agent(c, a)
        self._after_resolution(c, force=full, followup=True if full else None)
