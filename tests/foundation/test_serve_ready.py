"""`mailgate serve` is ready only on a database it can write: one it cannot (a file even root may
not write, a PostgreSQL that refuses writes) stops it before READY with one line naming it, instead
of a daemon that accepts connections and answers 451 to every message."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mailgate.store.engine import redacted_url
from tests.conftest import Instance


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """`chattr +i`: nobody may write the file, root included (file modes do not bind root, and the
    tests run as root here and in CI). Needs CAP_LINUX_IMMUTABLE and ext2/3/4, xfs or btrfs."""
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _serve(instance: Instance, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MAILGATE_CONFIG": str(instance.config_path),
        "MAILGATE_SMTP__PORT": "0",
        **extra_env,
    }
    env.pop("NOTIFY_SOCKET", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailgate", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"serve kept running on a database it cannot write:\n{out}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_serve_stops_before_ready_on_a_database_it_cannot_write(
    instance: Instance, backend: str
) -> None:
    if backend == "sqlite":
        database = Path(instance.settings().database_url.removeprefix("sqlite:///"))
        with immutable(database):
            result = _serve(instance, {})
        expected = (
            f"Error: database sqlite:///{database} is read-only: check that this user can write "
            "the file and its directory, and that the file system is not mounted read-only"
        )
    else:
        # The server accepts the connection and every read, and refuses every write.
        read_only = instance.db_url + "%20-cdefault_transaction_read_only%3Don"
        result = _serve(instance, {"MAILGATE_DATABASE__URL": read_only})
        expected = (
            f"Error: database {redacted_url(read_only)} is read-only: it refuses writes (a "
            "standby server, or default_transaction_read_only): point database.url at the primary"
        )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    assert errors[0] == expected
    assert "serving" not in result.stdout
