"""The ingest pipeline: an ordered list of named steps, read top to bottom.

It runs in two phases. Preflight steps need no database (decoding, DNS lookups for DKIM and DMARC)
and run before the message's transaction opens, so slow work never holds the write lock that the
listener's spool commits wait on. The remaining steps run inside that transaction.

Each step looks at the message context and either returns None (carry on) or an `Outcome` (stop: the
message reaches that final state). A step that raises `RetryLater` leaves the message in the spool for
another attempt (a DNS outage, say); any other exception parks the message in quarantine with the
step's name, so one poison message never blocks the rest or loops forever. Between steps the
worker may ask to stop (the daemon is shutting down): the message is then `Abandoned` at that safe
point, its transaction rolled back, and it goes back to the spool untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from sqlmodel import Session

from mailgate.app import App
from mailgate.ingest.context import MessageContext, Outcome


class RetryLater(Exception):
    """A temporary failure: try this message again later. The reason is fixed text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class StepFailed(Exception):
    """A step crashed; carries the step's name for the quarantine reason."""

    def __init__(self, step: str, error: BaseException) -> None:
        super().__init__(f"step {step} failed: {type(error).__name__}")
        self.step = step
        self.error = error


class Abandoned(Exception):
    """The worker is stopping: leave this message, between two steps, for a later run."""


def never_stopping() -> bool:
    return False


@dataclass(slots=True)
class StepEnv:
    """What steps may use besides the message: the app (keys, config) and the open transaction."""

    app: App
    session: Session


class Step(Protocol):
    """One named stage of the pipeline."""

    name: str
    description: str

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None: ...


class Preflight(Protocol):
    """A named stage that runs before the transaction: it may use the app, never a session."""

    name: str
    description: str

    def run(self, ctx: MessageContext, app: App) -> Outcome | None: ...


S = TypeVar("S", Step, Preflight)


def _first_outcome(
    steps: Sequence[S], call: Callable[[S], Outcome | None], stopping: Callable[[], bool]
) -> Outcome | None:
    """Call the steps in order until one decides; a step's crash becomes StepFailed (naming it)."""
    for step in steps:
        if stopping():
            raise Abandoned
        try:
            outcome = call(step)
        except RetryLater:
            raise
        except Exception as exc:
            raise StepFailed(step.name, exc) from exc
        if outcome is not None:
            return outcome
    return None


def preflight(
    steps: Sequence[Preflight],
    ctx: MessageContext,
    app: App,
    stopping: Callable[[], bool] = never_stopping,
) -> Outcome | None:
    """Run the preflight steps in order; an outcome here ends the message's journey early."""
    return _first_outcome(steps, lambda step: step.run(ctx, app), stopping)


def run(
    steps: Sequence[Step],
    ctx: MessageContext,
    env: StepEnv,
    stopping: Callable[[], bool] = never_stopping,
) -> Outcome:
    """Run the steps in order until one decides; the last step must always decide."""
    outcome = _first_outcome(steps, lambda step: step.run(ctx, env), stopping)
    if outcome is not None:
        return outcome
    raise StepFailed(steps[-1].name if steps else "pipeline", RuntimeError("no step decided"))
