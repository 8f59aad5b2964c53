"""The one place that builds the ``faust.App``: settings, tables and agents wired together."""

from __future__ import annotations

import faust

from streamproc import faust_fixes, transport
from streamproc.agents.ingest import register_ingest
from streamproc.agents.watchdog import Progress, register_watchdog
from streamproc.security import faust_credentials
from streamproc.settings import Settings
from streamproc.tables import Tables, declare_tables, store
from streamproc.tables.recovery import batch_recovery


def create_app(settings: Settings) -> tuple[faust.App, Tables]:
    """A Faust app with every table and agent of the service registered.

    Faust is extended through its doors: the broker URL's scheme selects streamproc's
    transport (our consumer and producer classes, streamproc.transport), a sensor stops
    the worker on a lost send, and the agents subscribe the topics whose records the
    consumer hands to the batch ingest (streamproc.agents.ingest). The one fix without a
    door, and the check that the libraries are the versions it was written for, run
    first (streamproc.faust_fixes).
    """
    faust_fixes.apply()
    transport.check_registered()
    store.check_registered()
    app = faust.App(
        settings.app_id,
        broker=transport.broker_url(settings.bootstrap_servers),
        store=store.store_url(settings.store),
        datadir=str(settings.table_state_dir),
        autodiscover=False,
        topic_partitions=settings.events_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        broker_credentials=faust_credentials(settings),
        table_standby_replicas=settings.standby_replicas,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        stream_recovery_delay=0.0,
        broker_session_timeout=settings.session_timeout_s,
        consumer_group_instance_id=settings.worker_id,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        producer_acks=-1,
        processing_guarantee="at_least_once",
        broker_max_poll_records=settings.max_poll_records,
    )
    app.sensors.add(faust_fixes.ExitOnSendError())
    tables = declare_tables(app, settings)
    if settings.recovery_apply == "batch":
        batch_recovery(app)
    register_ingest(app, settings, tables)
    register_watchdog(app, settings, Progress())
    return app, tables
