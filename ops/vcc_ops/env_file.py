"""``VCC_ENV_FILE``: more ``VCC_*`` variables from a file, for secrets made at run time.

Compose reads its ``env_file`` on the host when it starts the containers, so variables an
init job writes inside the province (a node's NATS and etcd password) cannot come that
way. A node given ``VCC_ENV_FILE=/secrets/vcc.env`` reads ``NAME=value`` lines from it
at start; a variable already set wins; only ``VCC_*`` names are taken; the file must not
be readable by others (it holds passwords).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

ENV_FILE = "VCC_ENV_FILE"


class EnvFileError(Exception):
    pass


def load_env_file(path: str | None = None) -> int:
    """Set the file's variables that are not set yet; how many were set."""
    name = path if path is not None else os.environ.get(ENV_FILE, "")
    if not name:
        return 0
    file = Path(name)
    mode = file.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise EnvFileError(f"{file} is readable by others; chmod 600 it")
    count = 0
    for line in file.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key.startswith("VCC_") or key in os.environ:
            continue
        os.environ[key] = value
        count += 1
    return count
