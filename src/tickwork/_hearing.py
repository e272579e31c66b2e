"""A shared store's notifications of other processes' changes, for the store link.

A :class:`~tickwork.stores.NotifyingStore` tells of changes from its own thread: the
flags here are set there and taken by the next step, with no lock (see
:meth:`Hearing._notified`). A store that loses its way of hearing is reported with one
``STORE_ERROR`` event per outage, and polled meanwhile.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from datetime import datetime

from ._errors import StoreError
from ._events import Event, EventKind
from .stores import JobStore, NotifyingStore, SharedJobStore

__all__ = ["Hearing"]

logger = logging.getLogger("tickwork")


def _nothing() -> None:
    pass


class Hearing:
    """The notification half of :class:`~tickwork._storelink.StoreLink` (a mixin)."""

    store: JobStore
    _shared: SharedJobStore | None
    #: STORE_ERROR events for the next decision.
    events: list[Event]

    def listen_to(self, store: JobStore | None) -> None:
        """Set up hearing *store* (a shared store, or None): it is heard if it notifies."""
        self._notifying = store if isinstance(store, NotifyingStore) else None
        #: Whether the store told of changes the next step is to take in (and, for the
        #: event router, of new events).
        self.changes_pending = self.events_heard = False
        self._deaf = False  # the store lost its way of hearing (until it hears again)
        self._outages: deque[BaseException] = deque()  # for STORE_ERROR events
        self._unsubscribe: Callable[[], None] | None = None
        self._wake: Callable[[], None] = _nothing

    def subscribe(self, wake: Callable[[], None], now: datetime) -> None:
        """Listen to a store that tells of other processes' changes (after loading):
        *wake* (from the store's thread) makes the driver step soon. The first step
        after takes in the changes made since loading, before the store listened. A
        store that cannot notify is reported, and polled as any other."""
        store = self._notifying
        if store is None or self._unsubscribe is not None:
            return
        self._wake = wake
        try:
            self._unsubscribe = store.subscribe(self._notified, self._deafened)
        except StoreError as error:
            self._deafened(error)
            self._take_outages(now)
            return
        self.changes_pending = True

    def unsubscribe(self) -> None:
        """Stop listening (at shutdown, before the store closes)."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        self._wake = _nothing
        if unsubscribe is not None:
            try:
                unsubscribe()
            except Exception as error:  # a store's bug must not stop the shutdown
                logger.error("tickwork: could not unsubscribe from %s: %s", self._name(), error)

    def _notified(self) -> None:
        """The store says another process changed something (any thread, any number
        of times): the next step reads the changes. The driver is woken only when
        the flag was not set already: a step that clears it reads afterwards, so it
        sees every change told before (a burst of notifications is one read)."""
        if self._deaf:
            self._deaf = False
            logger.info("tickwork: %s tells of other processes' changes again", self._name())
        self.events_heard = True
        if not self.changes_pending:
            self.changes_pending = True
            self._wake()

    def _deafened(self, error: BaseException) -> None:
        """The store lost its way of hearing of changes (any thread): log it, report
        one STORE_ERROR event per outage, and go on by polling."""
        if self._deaf:
            return
        self._deaf = True
        poll = None if self._shared is None else self._shared.poll_interval
        logger.warning(
            "tickwork: %s stopped telling of other processes' changes (%s); taking them "
            "in %s until it does again",
            self._name(),
            error,
            "only after a lost claim" if poll is None else f"every {poll:g} s (poll_interval)",
        )
        self._outages.append(error)
        self._wake()

    def _take_outages(self, now: datetime) -> None:
        """STORE_ERROR events for the outages of notification since the last step."""
        outages = self._outages
        while outages:
            error = outages.popleft()
            reason = f"{self._name()} stopped telling of changes: {error}"
            store_error = error if isinstance(error, StoreError) else StoreError(reason)
            if store_error is not error:
                store_error.__cause__ = error
            self.events.append(
                Event(kind=EventKind.STORE_ERROR, at=now, exception=store_error, reason=reason)
            )

    def _name(self) -> str:
        return type(self.store).__name__
