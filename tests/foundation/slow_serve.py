"""`mailgate serve` with one more pipeline step, plugged in at the pipeline's extension point as
the tests do in-process: it holds each message marked `X-Test-Step-Seconds: N` for N seconds inside
the message's transaction, where the long parses of real mail happened (extract, parse fields).

    python -m tests.foundation.slow_serve   (same environment and options as `mailgate serve`)
"""

from __future__ import annotations

import sys
import time

from mailgate.cli import main
from mailgate.ingest import worker
from mailgate.ingest.context import MessageContext, Outcome
from mailgate.ingest.pipeline import StepEnv
from mailgate.ingest.steps import PIPELINE


class SlowStep:
    name = "slow_step"
    description = "takes X-Test-Step-Seconds seconds, uninterruptible, like a long parse"

    def run(self, ctx: MessageContext, env: StepEnv) -> Outcome | None:
        assert ctx.msg is not None
        deadline = time.monotonic() + float(ctx.msg.get("X-Test-Step-Seconds", "0"))
        while time.monotonic() < deadline:
            time.sleep(0.05)
        return None


if __name__ == "__main__":
    steps = list(PIPELINE)
    steps.insert(steps.index(next(s for s in steps if s.name == "extract")), SlowStep())
    setattr(worker, "PIPELINE", steps)  # noqa: B010  (as the in-process tests' monkeypatch does)
    sys.argv = ["mailgate", "serve"]
    main()
