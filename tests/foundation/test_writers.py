"""The in-process writer gate: one SQLite write transaction at a time, the spool first."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from mailgate.store import writers
from tests.conftest import Instance


def _until(condition: object) -> None:
    while not condition():  # type: ignore[operator]
        time.sleep(0.001)


def test_an_urgent_writer_goes_before_one_that_waited_longer(
    practice: Instance, backend: str
) -> None:
    app = practice.app()
    gate = writers.gate(app.engine)
    if backend == "postgresql":
        assert gate is None  # row locks: nothing to queue for
        return
    assert gate is not None
    order: list[str] = []
    release = threading.Event()

    def holder() -> None:
        with app.session() as session:
            session.execute(text("SELECT 1"))
            order.append("holder")
            release.wait()

    def writer(name: str, urgent: bool) -> None:
        with writers.writing(app.engine, urgent=urgent):
            order.append(name)

    threads = [threading.Thread(target=holder)]
    threads[0].start()
    _until(lambda: order == ["holder"])
    threads.append(threading.Thread(target=writer, args=("worker", False)))
    threads[1].start()
    _until(lambda: gate.waiting == 1)
    threads.append(threading.Thread(target=writer, args=("spool", True)))
    threads[2].start()
    _until(lambda: gate.waiting == 2)
    release.set()
    for thread in threads:
        thread.join()
    assert order == ["holder", "spool", "worker"]


def test_a_second_write_session_in_the_same_thread_is_not_deadlocked_by_the_gate(
    practice: Instance,
) -> None:
    app = practice.app()
    with writers.writing(app.engine), writers.writing(app.engine):
        pass  # re-entry passes through (SQLite's own lock decides, as before)
    gate = writers.gate(app.engine)
    assert gate is None or gate.waiting == 0
    with app.session() as session:  # and the gate is free again
        session.execute(text("SELECT 1"))
