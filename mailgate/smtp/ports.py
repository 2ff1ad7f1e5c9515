"""A failure to listen, said in one line that names the setting to change (no traceback).

`mailgate serve` opens the SMTP, LMTP and metrics ports; a port in use, a privileged port or a host
name that does not resolve is a configuration problem the operator fixes, so it becomes a
`ConfigError`, which the command line prints as one line and exit status 1.
"""

from __future__ import annotations

import errno
import socket

from mailgate.errors import ConfigError


def listen_error(section: str, port_key: str, host: str, port: int, exc: Exception) -> ConfigError:
    """The ConfigError for `exc`, raised while listening on `host`:`port` (`section.port_key`)."""
    where = f"{section}.{port_key} {port} on {host}"
    if isinstance(exc, socket.gaierror | UnicodeError):  # UnicodeError: not even a valid name
        return ConfigError(
            f"{section}.host {host!r} cannot be resolved to an address: "
            "use an IP address (e.g. 127.0.0.1) or a name this machine resolves"
        )
    code = exc.errno if isinstance(exc, OSError) else None
    if code == errno.EADDRINUSE:
        return ConfigError(f"{where} is in use by another program: stop it or choose another port")
    if code == errno.EACCES:
        return ConfigError(
            f"{where} needs privileges: choose a port above 1023 "
            "or give the service CAP_NET_BIND_SERVICE"
        )
    if code == errno.EADDRNOTAVAIL:
        return ConfigError(
            f"{section}.host {host!r} is not an address of this machine: "
            "use one of its addresses (e.g. 127.0.0.1)"
        )
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    return ConfigError(f"{where}: cannot listen ({reason})")


def socket_error(section: str, key: str, path: object, exc: OSError) -> ConfigError:
    """The ConfigError for a unix socket that cannot be created at `path`."""
    reason = exc.strerror or type(exc).__name__
    return ConfigError(f"{section}.{key} {path}: cannot listen ({reason})")
