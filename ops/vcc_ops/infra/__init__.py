"""Start and stop the real infrastructure servers (NATS, etcd, PostgreSQL) on free ports.

Synchronous on purpose (subprocess and polling) so the same code serves pytest fixtures,
``vcc up`` and ``vcc demo``. Every server runs in its own process group with a
parent-death signal, so none outlives the process that started it.
"""

from vcc_ops.infra.etcd import EtcdCluster, EtcdServer
from vcc_ops.infra.nats import NatsCluster, NatsServer
from vcc_ops.infra.ports import free_port
from vcc_ops.infra.postgres import PostgresServer
from vcc_ops.infra.process import ManagedProcess, StartupError
from vcc_ops.infra.stack import Infrastructure

__all__ = [
    "EtcdCluster",
    "EtcdServer",
    "Infrastructure",
    "ManagedProcess",
    "NatsCluster",
    "NatsServer",
    "PostgresServer",
    "StartupError",
    "free_port",
]
