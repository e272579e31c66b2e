"""The LISTEN helper of the PostgreSQL store, against the real server.

Each test listens on a channel of its own and finds its listener's backend by an
``application_name`` of its own, so tests running beside others on the same server
touch nothing of theirs.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .. import pg

psycopg = pytest.importorskip("psycopg")

from tickwork.stores._pg_listen import Listener  # noqa: E402

WAIT = 5.0


class Heard:
    """What a listener reported, in order, as ("message", payload) / ("error", error)."""

    def __init__(self) -> None:
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue()

    def message(self, payload: str) -> None:
        self.items.put(("message", payload))

    def error(self, error: BaseException) -> None:
        self.items.put(("error", error))

    def next(self, timeout: float = WAIT) -> tuple[str, Any]:
        return self.items.get(timeout=timeout)

    def empty_for(self, seconds: float) -> bool:
        try:
            item = self.items.get(timeout=seconds)
        except queue.Empty:
            return True
        self.items.put(item)
        return False


@pytest.fixture
def names() -> tuple[str, str]:
    pg.require()
    tag = uuid.uuid4().hex[:10]
    return f"tw_Chan {tag}", f"tw-listen-{tag}"  # a channel that needs quoting


def connector(app: str, dsn: str | None = None) -> Callable[[], Any]:
    def connect() -> Any:
        return psycopg.connect(dsn or pg.dsn(), application_name=app, connect_timeout=3)

    return connect


def notify(channel: str, payload: str) -> None:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


def terminate(app: str) -> int:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (app,),
        ).fetchall()
    return len(rows)


@pytest.fixture
def listening(names: tuple[str, str]) -> Iterator[tuple[Listener, Heard, str, str]]:
    channel, app = names
    heard = Heard()
    listener = Listener(connector(app), channel, heard.message, heard.error, backoff=(0.05, 0.2))
    listener.start()
    try:
        yield listener, heard, channel, app
    finally:
        listener.stop()


def test_messages_arrive_in_order(listening: tuple[Listener, Heard, str, str]) -> None:
    listener, heard, channel, _ = listening
    assert listener.listening
    for payload in ("job:a", "job:b", "run"):
        notify(channel, payload)
    assert [heard.next() for _ in range(3)] == [
        ("message", "job:a"),
        ("message", "job:b"),
        ("message", "run"),
    ]


def test_stop_is_prompt_and_closes_the_connection(
    listening: tuple[Listener, Heard, str, str],
) -> None:
    listener, _, _, app = listening
    began = time.monotonic()
    listener.stop()
    assert time.monotonic() - began < 1.0
    assert not listener.listening
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            (count,) = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,)
            ).fetchone()
            if count == 0:
                break
            time.sleep(0.02)
        assert count == 0


def test_a_terminated_backend_is_reported_once_and_listening_resumes(
    listening: tuple[Listener, Heard, str, str],
) -> None:
    listener, heard, channel, app = listening
    assert terminate(app) == 1
    kind, error = heard.next()
    assert kind == "error"
    assert isinstance(error, psycopg.OperationalError)
    # Reconnected and LISTENing again: told to look for itself (messages were lost).
    assert heard.next() == ("message", "")
    assert listener.listening
    assert listener.connections == 2
    notify(channel, "after")
    assert heard.next() == ("message", "after")
    assert heard.empty_for(0.1)


def test_one_error_per_outage_while_the_server_cannot_be_reached(
    names: tuple[str, str],
) -> None:
    channel, app = names
    heard = Heard()
    refuse = threading.Event()
    refuse.set()

    def connect() -> Any:
        if refuse.is_set():
            raise psycopg.OperationalError("server down (simulated)")
        return connector(app)()

    listener = Listener(connect, channel, heard.message, heard.error, backoff=(0.02, 0.05))
    listener.start()
    try:
        kind, _ = heard.next()
        assert kind == "error"
        assert heard.empty_for(0.3)  # several attempts failed, reported once
        assert not listener.listening
        refuse.clear()
        assert heard.next() == ("message", "")
        notify(channel, "up")
        assert heard.next() == ("message", "up")
    finally:
        listener.stop()


class BlackHole:
    """A TCP proxy to the server that can stop forwarding without closing anything: a
    connection that dies silently, as behind a dropped network."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.frozen = threading.Event()
        self.closing = threading.Event()
        self.sockets: list[socket.socket] = [self.server]
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        self.server.settimeout(0.1)
        while not self.closing.is_set():
            try:
                client, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            upstream = socket.create_connection(("127.0.0.1", 5432))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                thread = threading.Thread(target=self._pipe, args=(a, b), daemon=True)
                self.threads.append(thread)
                thread.start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        source.settimeout(0.1)
        while not self.closing.is_set():
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            if not self.frozen.is_set():
                try:
                    sink.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        self.closing.set()
        for thread in self.threads:
            thread.join(1)
        for sock in self.sockets:
            sock.close()


def test_a_silently_dead_connection_is_noticed_by_the_idle_check(
    names: tuple[str, str],
) -> None:
    channel, app = names
    proxy = BlackHole()
    heard = Heard()
    dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}/{pg.dsn().rsplit('/', 1)[1]}"
    listener = Listener(
        connector(app, dsn),
        channel,
        heard.message,
        heard.error,
        idle=0.3,
        ping_timeout=0.3,
        backoff=(0.05, 0.1),
    )
    try:
        listener.start()
        assert listener.listening
        proxy.frozen.set()  # nothing passes, nothing is closed
        began = time.monotonic()
        kind, _ = heard.next()
        assert kind == "error"
        assert time.monotonic() - began < 1.5  # idle (0.3) + check (0.3) + a slice
        proxy.frozen.clear()
        assert heard.next() == ("message", "")
        notify(channel, "back")
        assert heard.next() == ("message", "back")
    finally:
        listener.stop()
        proxy.close()
        terminate(app)  # the backend of the connection cut at the proxy


def test_a_failing_callback_is_logged_and_listening_goes_on(
    names: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    channel, app = names
    heard = Heard()

    def on_message(payload: str) -> None:
        if payload == "bad":
            raise RuntimeError("callback bug")
        heard.message(payload)

    listener = Listener(connector(app), channel, on_message, heard.error)
    listener.start()
    try:
        notify(channel, "bad")
        notify(channel, "good")
        assert heard.next() == ("message", "good")
        assert "callback failed" in caplog.text
    finally:
        listener.stop()


def test_a_channel_must_be_named() -> None:
    with pytest.raises(ValueError, match="channel"):
        Listener(lambda: None, "", print, print)  # type: ignore[arg-type,return-value]


def test_a_stopped_listener_starts_again(listening: tuple[Listener, Heard, str, str]) -> None:
    listener, heard, channel, _ = listening
    listener.stop()
    listener.start()
    assert listener.listening
    notify(channel, "again")
    assert heard.next() == ("message", "again")


def test_stop_while_connecting_is_bounded(names: tuple[str, str]) -> None:
    channel, _ = names
    release = threading.Event()
    entered = threading.Event()

    def connect() -> Any:
        entered.set()
        release.wait(WAIT)  # a server that does not answer
        raise psycopg.OperationalError("timed out (simulated)")

    listener = Listener(connect, channel, print, lambda error: None)
    listener.start(wait=0.05)
    assert entered.wait(WAIT)
    began = time.monotonic()
    release.set()  # the attempt times out, the thread sees the stop flag
    listener.stop()
    assert time.monotonic() - began < 1.5
    assert not listener.listening
