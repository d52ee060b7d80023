"""The thin place where the boundaries are wired together and the daemon's life is run.

One asyncio loop, one TaskGroup of named tasks; SIGTERM/SIGINT cancel the main task, and
cancellation flows down so that the store writer can write what it still holds. How tasks are
started, reported when they fail, and how long a stop may take: life.py.
"""

from __future__ import annotations

import asyncio
import os
import signal

import structlog

from pbx_bridge import listen, sdnotify
from pbx_bridge.ami.client import AmiClient, AmiError
from pbx_bridge.agi.routes import all_routes
from pbx_bridge.agi.server import FastAgiServer
from pbx_bridge.callbacks.placer import EVENTS as CALLBACK_EVENTS
from pbx_bridge.calls.outbound import OutboundTracker
from pbx_bridge.calls.records import CallRecord, OfferRecord
from pbx_bridge.calls.tracker import WANTED_EVENTS, CallTracker
from pbx_bridge.rules.ring_twice import RingTwiceRule
from pbx_bridge.config import MQTT_PASSWORD_ENV, Config
from pbx_bridge.life import Life, first_failure
from pbx_bridge.live.state import LiveState
from pbx_bridge.reconcile.reconciler import Reconciler
from pbx_bridge.nuisance.desk import NuisanceDesk
from pbx_bridge.pins import PinGate
from pbx_bridge.record_kinds import record_kinds
from pbx_bridge.store.engine import async_engine, safe_url
from pbx_bridge.store.migrate import upgrade
from pbx_bridge.store.writer import StoreWriter

log = structlog.get_logger(__name__)


class Daemon:
    def __init__(self, cfg: Config, secret: str) -> None:
        self.cfg = cfg
        self.life = Life()
        self.engine = async_engine(cfg.store.url)
        self.writer = StoreWriter(self.engine, cfg.store.batch_size, cfg.store.flush_interval,
                                  cfg.store.max_pending, cfg.store.spool_dir, kinds=record_kinds())
        self.tracker = CallTracker(cfg.pbx, cfg.ring, self._record, stale_after=cfg.tracking.stale_after)
        self.ami = AmiClient(cfg.ami, secret, self._on_event, (*WANTED_EVENTS, *CALLBACK_EVENTS),
                             self._ami_connected)
        self.outbound = OutboundTracker(cfg.pbx, self.writer.put)
        self.live = LiveState(cfg.tz, cfg.mqtt.service_level_s, cfg.mqtt.long_wait_s, cfg.mqtt.repeat_caller_count)
        self.ring_twice = RingTwiceRule(cfg.ring.misses_before_pause, self._pause_member, [self.live.on_notice])
        self.mqtt = None
        if cfg.mqtt.enabled:
            from pbx_bridge.mqtt.publisher import MqttPublisher

            self.mqtt = MqttPublisher(cfg.mqtt, cfg.pbx, self.live, os.environ.get(MQTT_PASSWORD_ENV) or None)
        self.rota = self.player = self.duty_caller = self.agents = self.pins = None
        if cfg.voicemail.enabled or cfg.agents.enabled:
            self._load_rota(cfg)
            self.pins = PinGate.from_settings(cfg.agents)  # one lock-out for every PIN menu (*81, *86)
        if cfg.voicemail.enabled:
            self._voicemail(cfg)
        self.nuisance = NuisanceDesk(cfg.nuisance, cfg.pbx, cfg.tz, self.engine, self.writer.put,
                                     name_of=self.outbound.phones.get)
        self.nuisance.load_file()  # a broken screening file at start: ScreeningFileError, exit 2
        self.callbacks = None
        if cfg.callbacks.enabled:
            self._callbacks(cfg)
        routes = {**all_routes(cfg, self.player, self.rota, nuisance=self.nuisance, pins=self.pins),
                  **self._callback_routes(cfg)}
        if cfg.agents.enabled:
            routes.update(self._agents(cfg))
        self.agi = FastAgiServer(cfg.agi, routes)
        self.wallboard = None
        if cfg.wallboard.enabled:
            from pbx_bridge.wallboard_server import WallboardServer

            self.wallboard = WallboardServer(cfg.wallboard.host, cfg.wallboard.port, {
                "broker": cfg.wallboard.broker, "prefix": f"{cfg.mqtt.topic_prefix}/{cfg.pbx}",
                "sl_target": cfg.reports.targets.timely_rate, "abandon_target": cfg.reports.targets.abandon_rate},
                max_connections=cfg.wallboard.max_connections, idle_timeout=cfg.wallboard.idle_timeout)
        self.reports = None
        if cfg.reports.scheduler:
            from pbx_bridge.reports.scheduler import ReportScheduler

            self.reports = ReportScheduler(self.engine, cfg.reports, cfg.tz, cfg.pbx)
        self.reconciler = self._reconciler(cfg) if cfg.reconcile.enabled else None
        self.tasks = self.life.tasks

    def _reconciler(self, cfg: Config) -> Reconciler | None:
        """What AMI did not deliver (daemon down, AMI gap) is read back from Asterisk's queue_log."""
        sources = []
        if cfg.reconcile.queue_log is not None:
            from pbx_bridge.reconcile.file_source import QueueLogFile

            sources.append(QueueLogFile(cfg.reconcile.queue_log, cfg.reconcile.state_dir / "queue_log.state"))
        if cfg.reconcile.realtime is not None:
            from zoneinfo import ZoneInfo

            from pbx_bridge.reconcile.table_source import QueueLogTable

            realtime = cfg.reconcile.realtime
            sources.append(QueueLogTable(realtime.url, realtime.table, cfg.reconcile.state_dir / "queue_log_table.state",
                                         ZoneInfo("UTC") if realtime.utc_times else cfg.tz))
        if not sources:
            return None
        return Reconciler(sources, self.writer, cfg.pbx, cfg.ring, cfg.reconcile.interval, cfg.tracking.stale_after)

    def _load_rota(self, cfg: Config) -> None:
        """The rota is the list of agents (voicemail duty and the phone menus)."""
        from pbx_bridge.rota.holder import RotaHolder

        self.rota = RotaHolder(str(cfg.voicemail.rota))
        self.rota.load()  # a broken rota at start is a config error: RotaError, exit 2
        for agent in (a for company in self.rota.current.companies for a in company.agents):
            self.outbound.know_phone(agent.endpoint, agent.name)

    def _agents(self, cfg: Config) -> dict:
        from pbx_bridge.agents.routes import agent_routes
        from pbx_bridge.agents.sessions import AgentSessions
        from pbx_bridge.agents.store import load_open

        self.agents = AgentSessions(cfg.pbx, cfg.agents, lambda action, timeout: self.ami.send_action(action, timeout),
                                    self.writer.put)
        self.agents.restore(*load_open(cfg.store.url, cfg.pbx))
        self.rota.subscribe(lambda rota: self.agents.on_rota(lambda no: rota.agent(no) is not None))
        return agent_routes(cfg.agents, self.agents, self.rota, self.pins)

    def _voicemail(self, cfg: Config) -> None:
        from pbx_bridge.ring import two_rings_s
        from pbx_bridge.voicemail.duty_caller import DutyCaller
        from pbx_bridge.voicemail.player import VoicemailPlayer
        from pbx_bridge.voicemail.spool import Spool

        spool = Spool(cfg.voicemail.spool_dir, cfg.voicemail.asterisk_spool_dir)
        self.player = VoicemailPlayer(cfg.pbx, spool, self.writer.put, cfg.voicemail.callback_context)
        self.duty_caller = DutyCaller(
            cfg.pbx, self.rota, self.player, lambda action, timeout: self.ami.send_action(action, timeout),
            self.writer.put, two_rings_s(cfg.ring), cfg.voicemail.retry_minutes, cfg.voicemail.playback_context)

    def _reload_files(self) -> None:
        """SIGHUP: read the admins' files again (each keeps its old version on an error)."""
        if self.rota is not None:
            self.rota.reload()
        self.nuisance.reload_file()

    def _callbacks(self, cfg: Config) -> None:
        from pbx_bridge.callbacks.placer import CallbackPlacer
        from pbx_bridge.ring import two_rings_s

        self.callbacks = CallbackPlacer(
            cfg.callbacks, cfg.pbx, self.engine, lambda action, timeout: self.ami.send_action(action, timeout),
            self._record, cfg.ring, two_rings_s(cfg.ring), lambda: self.ami.sessions if self.ami.logged_in else 0,
            lambda: {call.record.number for call in self.tracker.active.values()} - {None})

    def _callback_routes(self, cfg: Config) -> dict:
        """Always served: with callbacks disabled, a 1 puts the caller back in the queue."""
        from pbx_bridge.callbacks.routes import callback_request

        def joined_at(uniqueid: str) -> float | None:
            call = self.tracker.active.get(uniqueid)
            return None if call is None else call.joined_ts

        return {"callback_request": callback_request(cfg.callbacks, cfg.pbx, self.engine, joined_at)}

    def health(self) -> dict:
        return {"ami": self.ami.health(), "tracker": self.tracker.health(), "store": self.writer.health(),
                "agi": self.agi.health(), "ring_twice": self.ring_twice.health(),
                "agents": self.agents.health() if self.agents else None,
                "pins": self.pins.health() if self.pins else None,
                "mqtt": self.mqtt.health() if self.mqtt else None,
                "reports": self.reports.health() if self.reports else None,
                "wallboard": self.wallboard.health() if self.wallboard else None,
                "queue_log": self.reconciler.health() if self.reconciler else None,
                "nuisance": self.nuisance.health(),
                "callbacks": self.callbacks.health() if self.callbacks else None}

    def _on_event(self, event) -> None:  # noqa: ANN001 - a panoramisk Message
        self.tracker.handle(event)
        self.live.handle(event)
        self.outbound.handle(event)
        if self.agents is not None:
            self.agents.handle(event)
        if self.callbacks is not None:
            self.callbacks.handle(event)

    def _record(self, record: CallRecord | OfferRecord) -> None:
        # a call's latency to its stored row is measured from the event that finished it
        self.writer.put(record, self.tracker.event_ts if isinstance(record, CallRecord) else None)
        self.live.on_record(record)
        if isinstance(record, OfferRecord):
            self.ring_twice.on_offer(record)
        elif self.callbacks is not None:
            self.callbacks.on_record(record)

    async def _pause_member(self, interface: str, reason: str) -> None:
        """QueuePause without a queue: the member is paused in every queue it belongs to."""
        reply = await self.ami.send_action(
            {"Action": "QueuePause", "Interface": interface, "Paused": "true", "Reason": reason}, timeout=10)
        if not reply.success:
            raise RuntimeError(f"QueuePause refused: {reply.get('message')}")

    async def _ami_connected(self, ami: AmiClient, gap_s: float | None) -> None:
        await self._seed_live_state(ami)
        await self._enforce_rota()
        if gap_s is None:
            return
        closed = 0
        if self.tracker.active:
            # Calls that ended while we were away (or died with an Asterisk restart) will send no
            # more events: ask Asterisk which channels still exist and close the rest now.
            try:
                listing = await ami.send_action({"Action": "CoreShowChannels"}, timeout=10)
            except (TimeoutError, ConnectionError, AmiError) as exc:
                log.warning("ami_channel_resync_failed", error=repr(exc))
            else:
                items = listing if isinstance(listing, list) else []
                closed = self.tracker.close_missing({m.get("Uniqueid") for m in items if m.get("Uniqueid")})
        log.warning("ami_gap", gap_s=round(gap_s, 1), calls_in_queue=len(self.tracker.active),
                    calls_closed_as_incomplete=closed)
        if self.reconciler is not None:
            self.reconciler.wake()  # what AMI missed meanwhile is in queue_log

    async def _enforce_rota(self) -> None:
        """At each AMI connection: agents taken out of the rota while we were down leave the queues."""
        if self.agents is not None and self.rota is not None:
            rota = self.rota.current
            removed = await self.agents.remove_departed(lambda no: rota.agent(no) is not None)
            if removed:
                log.info("agents_removed_at_start", count=removed)

    async def _seed_live_state(self, ami: AmiClient) -> None:
        """Members and their pauses as they are now (events only tell of changes)."""
        try:
            listing = await ami.send_action({"Action": "QueueStatus"}, timeout=10)
        except (TimeoutError, ConnectionError, AmiError) as exc:
            log.warning("queue_status_failed", error=repr(exc))
            return
        for message in listing if isinstance(listing, list) else []:
            if message.get("Event") == "QueueMember":
                self.live.handle(message)
                self.outbound.handle(message)
        self.live.mark_all_dirty()

    async def _sweeper(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.tracking.sweep_interval)
            self.tracker.sweep()

    async def _watchdog(self) -> None:
        interval = sdnotify.watchdog_interval() or 15.0
        while True:
            health = self.health()
            sdnotify.notify(
                "WATCHDOG=1",
                f"STATUS=ami {'up' if health['ami']['connected'] else 'down'}, "
                f"{health['tracker']['active_calls']} calls in queue, {health['store']['pending']} records pending, "
                f"{health['store']['spooled']} spooled, "
                f"{health['agi']['active']} AGI sessions",
            )
            await asyncio.sleep(interval)

    async def run(self) -> None:
        log.info("daemon_starting", pbx=self.cfg.pbx, store=safe_url(self.cfg.store.url),
                 ami=f"{self.cfg.ami.host}:{self.cfg.ami.port}")
        try:
            async with asyncio.TaskGroup() as group:
                for name, coro in (
                    ("store-writer", self.writer.run()),
                    ("fastagi", self.agi.run()),
                    ("ami", self.ami.run()),
                    ("ring-twice", self.ring_twice.run()),
                    ("call-sweeper", self._sweeper()),
                    ("watchdog", self._watchdog()),
                    ("nuisance", self.nuisance.run()),
                    *((("mqtt", self.mqtt.run()),) if self.mqtt else ()),
                    *((("reports", self.reports.run()),) if self.reports else ()),
                    *((("wallboard", self.wallboard.run()),) if self.wallboard else ()),
                    *((("queue-log", self.reconciler.run()),) if self.reconciler else ()),
                    *((("callbacks", self.callbacks.run()),) if self.callbacks else ()),
                    *((("voicemail-duty", self.duty_caller.run()),) if self.duty_caller else ()),
                    *((("rota-watch", self.rota.watch()),) if self.rota is not None else ()),
                ):
                    self.life.start(group, name, coro)
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._reload_files)
                sdnotify.notify("READY=1")
                log.info("daemon_ready")
        except BaseExceptionGroup as failed:
            raise first_failure(failed) from None  # each failure was logged with its traceback as it happened
        finally:
            sdnotify.notify("STOPPING=1")
            try:
                async with asyncio.timeout(5):  # a database that does not answer must not hold the stop
                    await self.engine.dispose()
            except TimeoutError:
                log.warning("store_dispose_timed_out")
            self.writer.close()
            log.info("daemon_stopped", **self.writer.health())


async def main(cfg: Config, secret: str) -> None:
    """A clean stop (SIGTERM) returns; a failure raises the task's exception for the command."""
    upgrade(cfg.store.url)
    daemon = Daemon(cfg, secret)  # may raise RotaError, ScreeningFileError or SpoolError: exit 2
    listen.ensure_fd_budget(cfg.agi.max_sessions + (cfg.wallboard.max_connections if cfg.wallboard.enabled else 0))
    # The ports first: one in use ends the start here (ListenError: one line, exit 2), before
    # anything connects and before systemd hears READY=1.
    for listener in (daemon.agi, daemon.wallboard):
        if listener is not None:
            await listener.bind()
    daemon.life.guard(asyncio.current_task())
    try:
        await daemon.run()
    except asyncio.CancelledError:
        log.info("daemon_signalled", reason=daemon.life.stopping)
