"""Initial password hashes a node is given for its own people, outside the directory.

A province file need not carry password hashes (the example ships none): whoever starts
the province (``vcc up``, ``vcc demo``) makes a random initial secret per person, gives
each site the argon2id hashes of *its* people only, in
``<data-dir>/initial-secrets/<SITE>.json`` (``{"person ID": "hash"}``, mode 0600), the
hub those of the province's people (``hub.json``), and hands the secrets themselves to
the operator. At start a node installs a hash for each of its people who has no
credential yet (:func:`vcc_site.service.recovery.seed_site`, the hub's people service);
such a password must be changed at the first sign-in. A person without any initial hash
gets one from who manages them (``People.ResetPassword``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

FOLDER = "initial-secrets"
MAX_FILE_BYTES = 4 * 1024 * 1024


HUB = "hub"  # the file of the province's people, who sign in at the hub


def hashes_path(data_dir: Path, site_id: str) -> Path:
    """Where the initial hashes of ``site_id``'s people are (:data:`HUB`: the hub's)."""
    return Path(data_dir) / FOLDER / f"{site_id}.json"


def read_hashes(data_dir: Path, site_id: str) -> dict[str, str]:
    """The initial hashes of the site's people, by person ID ({} when there is no file;
    a file that is not a JSON object of strings is logged and ignored)."""
    path = hashes_path(data_dir, site_id)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            log.error("%s is larger than %d bytes; ignored", path, MAX_FILE_BYTES)
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        log.error("initial secrets %s not read: %s", path, err)
        return {}
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.startswith("$argon2id$")
        for k, v in data.items()
    ):
        log.error("%s is not a JSON object of person IDs to argon2id hashes; ignored", path)
        return {}
    return data
