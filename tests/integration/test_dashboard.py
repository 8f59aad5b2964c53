"""The ops dashboard in a real browser: broker, worker, exporter (the feed) and `streamproc
web`; headless Debian chromium (Selenium) sees queue counts, presence and today's resolved
count follow published events, and an export link deliver the CSV of a figure."""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from selenium.common.exceptions import StaleElementReferenceException

from streamproc.settings import Settings
from tests.harness import ROOT, ExporterProcess, WorkerProcess, free_port, run_cli, wait_until

pytestmark = pytest.mark.integration
T = TypeVar("T")
SCREENSHOT = Path(
    # The README's picture: STREAMPROC_DASHBOARD_SCREENSHOT=docs/dashboard.png refreshes it.
    os.environ.get("STREAMPROC_DASHBOARD_SCREENSHOT") or ROOT / ".data" / "dashboard.png"
)
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


class WebProcess(ExporterProcess):
    """A real ``streamproc web`` process (settings carry its port)."""

    command = ("web", "--loglevel", "info")


RENDER_50_TEAMS_500_AGENTS = """
const base = state.records.get("all:all");
for (let i = 0; i < 550; i++) {
  const scope = i < 50 ? "team" : "agent", id = `load-${scope}-${i}`;
  const record = JSON.parse(JSON.stringify(base));
  Object.assign(record, {scope, id});
  record.live.agents = {available: i % 3 === 0 ? 1 : 0, away: i % 3 === 1 ? 1 : 0,
                        offline: i % 3 === 2 ? 1 : 0};
  state.records.set(`${scope}:${id}`, record);
}
const started = performance.now();
render();
return performance.now() - started;
"""


def browser() -> Any:
    """Headless Debian chromium driven by Selenium through Debian's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--window-size=1400,1500", "--lang=en-US"):  # fmt: skip
        options.add_argument(flag)
    chromium = shutil.which("chromium")
    if chromium:
        options.binary_location = chromium
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Events:
    """Events with unique ids, written as JSON lines for `streamproc produce`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def write(self, name: str, events: list[dict[str, Any]]) -> Path:
        path = self.folder / f"{name}.jsonl"
        lines = []
        for event in events:
            self.count += 1
            lines.append(json.dumps({"event_id": f"dash-{self.count:04d}", **event}))
        path.write_text("\n".join(lines) + "\n")
        return path


def status(conversation: str, at: datetime, value: str, actor: dict[str, Any],
           team: str | None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {"type": "conversation.status_changed", "occurred_at": stamp(at),
            "conversation_id": conversation, "status": value, "actor": actor,
            "team_id": team, **extra}  # fmt: skip


def new_conversation(conversation: str, at: datetime, team: str) -> list[dict[str, Any]]:
    return [
        {"type": "conversation.created", "occurred_at": stamp(at), "conversation_id":
         conversation, "channel_id": "chan-web", "contact_profile_id": f"contact-{conversation}",
         "url": f"https://inbox.example/{conversation}", "language": "en"},
        status(conversation, at, "NEW", {"kind": "SYSTEM", "id": None}, team,
               started_by="NEW_INBOUND_MESSAGE", inbound_message_id=None, handover_reason=None),
    ]  # fmt: skip


def presence(agent: str, at: datetime, value: str, away: str | None = None) -> dict[str, Any]:
    return {"type": "agent.presence_changed", "occurred_at": stamp(at), "agent_id": agent,
            "presence": value, "away_status": away}  # fmt: skip


def test_dashboard_follows_the_feed_in_a_real_browser(isolated: Settings, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    now = datetime.now(UTC)
    # "Today" must hold the last 20 minutes: a zone whose local time is not just past midnight.
    zone = "UTC" if now.hour >= 1 else "Asia/Kolkata"
    settings = replace(isolated, feed_interval_s=0.2, feed_timezone=zone, http_port=port)
    start = now - timedelta(minutes=20)
    events = Events(tmp_path)
    directory = [
        {"type": "channel.upserted", "occurred_at": stamp(start), "channel_id": "chan-web",
         "medium": "WEBCHAT", "name": "Web chat", "display_name": "Web chat"},
        *({"type": "team.upserted", "occurred_at": stamp(start), "team_id": team, "name": name}
          for team, name in (("team-care", "Customer Care"), ("team-sales", "Sales"),
                             ("team-vip", "VIP desk"))),
        *({"type": "agent.upserted", "occurred_at": stamp(start), "agent_id": agent,
           "name": name, "email": f"{agent}@acme.example", "reference": agent, "team_id": team}
          for agent, name, team in (("agent-ana", "Ana García", "team-care"),
                                    ("agent-ben", "Ben Okafor", "team-care"),
                                    ("agent-chloe", "Chloé Martin", "team-sales"),
                                    ("agent-dev", "Dev Patel", "team-vip"))),
        presence("agent-ana", start, "AVAILABLE"),
        presence("agent-ben", start, "AVAILABLE"),
        presence("agent-chloe", start, "AWAY", "Training"),
    ]  # fmt: skip
    first = [
        *directory,
        *new_conversation("conv-1", now - timedelta(minutes=12), "team-care"),
        *new_conversation("conv-2", now - timedelta(minutes=3), "team-care"),
        *new_conversation("conv-3", now - timedelta(minutes=1), "team-sales"),
    ]
    worker = WorkerProcess(settings, "a").start()
    exporter = ExporterProcess(settings, "x").start()
    web = WebProcess(settings, "web").start()
    driver = None
    try:
        produced = run_cli(settings, "produce", str(events.write("first", first)))
        assert produced.returncode == 0, produced.stderr

        def alive() -> None:
            for process in (worker, exporter, web):
                process.assert_alive()

        def page_ready() -> bool | None:
            alive()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    return b"dashboard.js" in r.read()
            except OSError:
                return None

        wait_until(page_ready, 30, "streamproc web to serve the dashboard page")
        driver = browser()
        driver.get(f"http://127.0.0.1:{port}/?lang=en&tz={zone}&warn=300")
        # The page re-renders whole sections (innerHTML): an element found a moment ago
        # may be gone, so every read is retried until it reads a live element.
        wait = WebDriverWait(
            driver, 45, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
        )

        def read(fn: Callable[[], T]) -> T:
            return wait.until(lambda _d: (fn(),))[0]

        def cell(selector: str) -> str:
            def text() -> str:
                found = driver.find_elements(By.CSS_SELECTOR, selector)
                return found[0].text.strip() if found else ""

            return read(text)

        def attribute(selector: str, name: str) -> str:
            return read(
                lambda: driver.find_element(By.CSS_SELECTOR, selector).get_attribute(name) or ""
            )

        def page_shows(selector: str, text: str) -> Any:
            def check(_driver: Any) -> bool:
                alive()
                return cell(selector) == text

            return check

        care, sales = '#queues tr[data-team="team-care"]', '#queues tr[data-team="team-sales"]'
        ana = '#agents tr[data-agent="agent-ana"]'
        wait.until(page_shows(f"{care} td.new", "2"), "team-care's queue: 2 new")
        wait.until(page_shows(f"{sales} td.new", "1"))
        wait.until(page_shows(f"{ana} .presence", "Available"))
        assert cell('#team-figures tr[data-team="team-care"] td.resolved') == "0"
        assert cell('#team-figures tr[data-team="team-care"] td.received') == "2"
        # The oldest waiting time ticks client-side: 12 minutes, past the 5-minute warning.
        assert "warn" in attribute(f"{care} .since", "class")
        assert cell(f"{care} .since").startswith(("11m", "12m", "13m")), cell(f"{care} .since")
        assert "warn" not in attribute(f"{sales} .since", "class")
        # The away status comes from the directory, re-read (at most every 5 s) on changes.
        wait.until(page_shows('#agents tr[data-agent="agent-chloe"] .presence', "Away (Training)"))

        # Ana goes away, picks conv-1 and resolves it; a new conversation arrives for Sales.
        agent_ana = {"kind": "AGENT", "id": "agent-ana"}
        second = [
            presence("agent-ana", now - timedelta(seconds=30), "AWAY", "Lunch"),
            {"type": "conversation.locked", "occurred_at": stamp(now - timedelta(minutes=2)),
             "conversation_id": "conv-1", "agent_id": "agent-ana", "team_id": "team-care"},
            {"type": "message.created", "occurred_at": stamp(now - timedelta(seconds=50)),
             "message_id": "msg-ana-1", "conversation_id": "conv-1", "direction": "OUTBOUND",
             "sender": agent_ana, "team_id": "team-care", "message_type": "DIRECT_MESSAGE",
             "origin": "INBOX", "outbound_type": "REPLY", "system_user_type": None,
             "content": "Hola, ¿en qué puedo ayudarle?", "post_url": None},
            status("conv-1", now - timedelta(seconds=40), "RESOLVED", agent_ana, "team-care",
                   resolve_reason=None, resolve_comment=None, resolve_trigger="HUMAN_AGENT"),
            *new_conversation("conv-4", now - timedelta(seconds=20), "team-sales"),
        ]  # fmt: skip
        produced = run_cli(settings, "produce", str(events.write("second", second)))
        assert produced.returncode == 0, produced.stderr
        wait.until(page_shows(f"{care} td.new", "1"), "team-care's queue: 1 new")
        wait.until(page_shows(f"{sales} td.new", "2"), "team-sales's queue: 2 new")
        wait.until(page_shows(f"{ana} .presence", "Away (Lunch)"), "Ana away (Lunch)")
        wait.until(page_shows('#team-figures tr[data-team="team-care"] td.resolved', "1"))
        wait.until(page_shows('#team-figures tr[data-team="team-sales"] td.received', "2"))
        wait.until(page_shows(f"{ana} td.resolved", "1"), "Ana resolved 1 today")
        wait.until(page_shows(f"{ana} td.replies", "1"), "Ana replied once today")
        assert cell('#agents tr[data-agent="agent-ben"] td.replies') == "0"
        wait.until(page_shows("#card-resolved .value", "1"), "overall resolved 1 today")
        # conv-2 is now the oldest waiting of Care: 3 minutes, under the warning.
        wait.until(lambda _d: not cell(f"{care} .since").startswith(("11m", "12m", "13m")))
        assert cell(f"{care} .since").startswith(("2m", "3m", "4m")), cell(f"{care} .since")

        # A figure's export: the page requests it (POST /api/v1/exports, command topic) and
        # links to the file once the exporter wrote it.
        read(lambda: driver.find_element(By.CSS_SELECTOR, f"{sales} td.new button.fig").click())
        WebDriverWait(driver, 60, poll_frequency=0.5).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#exports a"), "the export's link"
        )
        href = f"http://127.0.0.1:{port}{urlsplit(attribute('#exports a', 'href')).path}"
        with urllib.request.urlopen(href, timeout=10) as response:
            csv_text = response.read().decode("utf-8-sig")
        assert "conv-3" in csv_text and "conv-4" in csv_text and "conv-1" not in csv_text

        # Spanish: the interface strings change, the data stays.
        driver.get(f"http://127.0.0.1:{port}/?lang=es&tz={zone}&team=team-care")
        wait.until(page_shows(f"{ana} .presence", "Ausente (Lunch)"))
        assert cell("h1") == "Operaciones de la bandeja"
        assert not driver.find_elements(By.CSS_SELECTOR, sales), "filtered to team-care"

        # The charts, from /api/v1/metrics (own SVG code): received and resolved per local
        # hour today, of the team (conversations entering its queue) or the whole inbox.
        def bar_values(metric: str) -> dict[str | None, int] | None:
            bars = driver.find_elements(By.CSS_SELECTOR, f'#chart rect.bar[data-metric="{metric}"]')
            return {
                b.get_attribute("data-start"): int(b.get_attribute("data-value") or 0) for b in bars
            } or None

        def hour_of(moment: datetime) -> str:
            local = moment.astimezone(ZoneInfo(zone))
            return local.replace(minute=0, second=0, microsecond=0).isoformat()

        def expected_per_hour(moments: list[datetime]) -> dict[str, int]:
            counts: dict[str, int] = {}
            for moment in moments:
                counts[hour_of(moment)] = counts.get(hour_of(moment), 0) + 1
            return counts

        def nonzero(values: dict[str | None, int]) -> dict[str | None, int]:
            return {k: v for k, v in values.items() if v}

        values = wait.until(lambda _d: bar_values("resolved"))
        assert len(values) == 24 and sum(values.values()) == 1, values
        assert values[hour_of(now - timedelta(seconds=40))] == 1, values
        received = wait.until(lambda _d: bar_values("received"))
        care_queued = [now - timedelta(minutes=12), now - timedelta(minutes=3)]
        assert nonzero(received) == expected_per_hour(care_queued), received
        driver.get(f"http://127.0.0.1:{port}/?lang=en&tz={zone}&warn=300")
        wait.until(page_shows(f"{ana} .presence", "Away (Lunch)"))
        received = wait.until(lambda _d: bar_values("received"))
        created = [now - timedelta(minutes=m) for m in (12, 3, 1)] + [now - timedelta(seconds=20)]
        assert nonzero(received) == expected_per_hour(created), received
        assert sum(wait.until(lambda _d: bar_values("resolved")).values()) == 1
        assert len(driver.find_elements(By.CSS_SELECTOR, "#chart path.last-week")) == 2
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(SCREENSHOT)), f"no screenshot at {SCREENSHOT}"

        # 50 teams and 500 agents render in full (one innerHTML per section; updates are
        # coalesced per frame). The time is reported, not asserted (docs/live.md has figures).
        render_ms = driver.execute_script(RENDER_50_TEAMS_500_AGENTS)
        print(f"dashboard render, 50 teams + 500 agents: {render_ms:.1f} ms")
        assert len(driver.find_elements(By.CSS_SELECTOR, "#agents tr[data-agent]")) >= 500
    finally:
        if driver is not None:
            driver.quit()
        web.stop()
        exporter.stop()
        worker.stop()
