"""Where the province a client command talks to is: flags, else ``vcc up``'s state file.

A flag (or its ``VCC_*`` variable) wins; without one, the state file that ``vcc up``
writes in ``--workdir`` (default ``.vcc``) gives the etcd endpoints and the NATS URL of
the running province; without that, the default local ports.

Credentials likewise: ``VCC_TLS_DIR`` (an operator tool's certificate directory, ``vcc pki
issue --kind ops``) if set, else the operator certificate the launcher recorded in the
state file, else plaintext. Every command taking ``--workdir`` calls with them.

The operator's user on NATS and etcd likewise: ``VCC_NATS_USER``/``VCC_ETCD_USER`` (and
their passwords) if set, else the ``ops`` user that ``vcc up`` left in ``--workdir``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from vcc_failover.etcd_auth import use_credentials
from vcc_ops.infra.access import read_ops_file
from vcc_ops.launcher import STATE_FILE, RunState
from vcc_proto.access import Credentials, EtcdUserSettings, NatsUserSettings
from vcc_proto.channels import use_client_tls
from vcc_proto.settings import load
from vcc_proto.tls import ClientTls

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_ETCD = "127.0.0.1:2379"
DEFAULT_NATS = "nats://127.0.0.1:4222"
DEFAULT_WORKDIR = Path(".vcc")


def running_state(workdir: Path) -> RunState | None:
    """The state file of a province started in ``workdir``, if there is a readable one."""
    path = workdir / STATE_FILE
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        return RunState.read(path)
    return None


def operator(workdir: Path) -> tuple[Credentials | None, Credentials | None]:
    """The operator's NATS and etcd users (see the module's text)."""
    ops = read_ops_file(workdir)
    return (
        load(NatsUserSettings).credentials() or ops,
        load(EtcdUserSettings).credentials() or ops,
    )


def etcd_endpoints(etcd: str, workdir: Path) -> list[str]:
    """``--etcd`` if given, else the running province's etcd, else the default port;
    this process's etcd clients sign in as the operator from now on."""
    use_credentials(operator(workdir)[1])
    given = [e for e in etcd.split(",") if e.strip()]
    if given:
        return given
    state = running_state(workdir)
    if state is not None and state.etcd_endpoints:
        return list(state.etcd_endpoints)
    return [DEFAULT_ETCD]


def nats_urls(nats: str, workdir: Path) -> list[str]:
    """``--nats`` if given, else the running province's NATS, else the default port."""
    given = [u for u in nats.split(",") if u.strip()]
    if given:
        return given
    state = running_state(workdir)
    if state is not None and state.nats_url:
        return [u for u in state.nats_url.split(",") if u]
    return [DEFAULT_NATS]


def trunk_tls_of(workdir: Path) -> ClientTls | None:
    """The running province's telephony-side credentials (None: plaintext, or none kept)."""
    state = running_state(workdir)
    if state is not None and state.tls.get("trunk"):
        return ClientTls(Path(state.tls["trunk"]))
    return None


def ops_tls(workdir: Path) -> ClientTls | None:
    """The operator tool's credentials: ``VCC_TLS_DIR``, else the running province's
    operator certificate, else None (plaintext)."""
    given = os.environ.get("VCC_TLS_DIR", "").strip()
    if given:
        return ClientTls(Path(given))
    state = running_state(workdir)
    if state is not None and state.tls.get("ops"):
        return ClientTls(Path(state.tls["ops"]))
    return None


def _use_workdir_tls(ctx: click.Context, _param: click.Parameter, workdir: Path) -> Path:
    """Calls of this command present the operator credentials of ``workdir`` (put back
    when the command's context closes, so a command run in-process leaves none behind)."""
    previous = use_client_tls(ops_tls(workdir))
    ctx.call_on_close(lambda: use_client_tls(previous))
    return workdir


def workdir_option(func: F) -> F:
    """``--workdir``: where ``vcc up`` wrote its state file (and its operator certificate)."""
    option = click.option(
        "--workdir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_WORKDIR,
        show_default=True,
        callback=_use_workdir_tls,
        help="Find the province that `vcc up --workdir D` runs from its state file "
        "(when --hub/--etcd/--nats are not given); call it with its operator certificate.",
    )
    return option(func)


def describe(workdir: Path) -> str:
    """Where the endpoints came from, for an error message."""
    state = running_state(workdir)
    if state is None:
        return f"no state file in {workdir}"
    return f"state file {workdir / STATE_FILE}: " + json.dumps(
        {"etcd": state.etcd_endpoints, "nats": state.nats_url}
    )
