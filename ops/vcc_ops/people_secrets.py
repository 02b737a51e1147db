"""Per-person initial secrets for a locally started province (``vcc up``, ``vcc demo``).

Every person of the started sites whose directory entry carries no password hash gets a
random initial secret. Each site is given the argon2id hashes of its own people only
(:mod:`vcc_proto.initial_secrets`, mode 0600); the secrets themselves go to the
operator in one sheet (``<workdir>/initial-secrets.tsv``, mode 0600: site, person, role,
name, secret), printed at start when short. Each must be changed at the first sign-in
(``People.SignIn`` then ``People.ChangePassword``). A work folder that already has its
secrets keeps them, so a restarted province signs in as before.

``vcc hash-password`` makes the hash of a chosen password for a province file instead.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vcc_domain.people import person_role
from vcc_domain.province import Province
from vcc_proto.initial_secrets import HUB, hashes_path
from vcc_site.domain.secrets import hash_generated_secret

SHEET = "initial-secrets.tsv"
SECRET_BYTES = 12  # 16 URL-safe characters
PRINT_AT_MOST = 20  # lines of the sheet printed at start; more: only its path


@dataclass(frozen=True, slots=True)
class Needing:
    """A person to give an initial secret, and where they sign in (a site or the hub)."""

    at: str  # site ID, or HUB for the province's people
    id: str
    role: str
    name: str


@dataclass(frozen=True, slots=True)
class Issued:
    person: Needing
    secret: str


def needing_secrets(province: Province, site_ids: Iterable[str]) -> list[Needing]:
    """The people of these sites whose directory entry has no password hash, and the
    province's people (whose hashes are never in the directory)."""
    out = [
        Needing(s, a.id, person_role(a.role), a.name)
        for s in site_ids
        for a in province.agents_at(s)
        if not a.password_hash
    ]
    return out + [Needing(HUB, p.id, p.role, p.name) for p in province.people]


def issue(people: list[Needing]) -> list[Issued]:
    """A fresh random secret for each person."""
    return [Issued(p, secrets.token_urlsafe(SECRET_BYTES)) for p in people]


def _private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def write(issued: list[Issued], data_dir: Path, sheet: Path) -> None:
    """The sites' hash files and the operator's sheet (both readable by the owner only)."""
    hashes = [hash_generated_secret(i.secret) for i in issued]  # random: a cheap hash will do
    by_site: dict[str, dict[str, str]] = {}
    for item, hashed in zip(issued, hashes, strict=True):
        by_site.setdefault(item.person.at, {})[item.person.id] = hashed
    for site_id, table in by_site.items():
        _private(hashes_path(data_dir, site_id), json.dumps(table, indent=1, sort_keys=True))
    lines = ["signs in at\tperson\trole\tname\tinitial secret"]
    lines += [
        f"{i.person.at}\t{i.person.id}\t{i.person.role}\t{i.person.name}\t{i.secret}"
        for i in issued
    ]
    _private(sheet, "\n".join(lines) + "\n")


def provision(province: Province, site_ids: list[str], data_dir: Path, workdir: Path) -> list[str]:
    """Make (or keep) the initial secrets of a local province; the lines to print."""
    sheet = workdir / SHEET
    if sheet.exists():
        return [f"initial secrets (kept from an earlier start): {sheet}"]
    people = needing_secrets(province, site_ids)
    if not people:
        return []
    issued = issue(people)
    write(issued, data_dir, sheet)
    head = (
        f"initial secrets of {len(issued)} people, to change at the first sign-in "
        f"(People.SignIn, People.ChangePassword): {sheet}"
    )
    if len(issued) > PRINT_AT_MOST:
        return [head]
    return [head, *sheet.read_text(encoding="utf-8").splitlines()]


def read_sheet(workdir: Path) -> dict[str, str]:
    """Each person's initial secret from the operator's sheet ({} when there is none)."""
    try:
        rows = (workdir / SHEET).read_text(encoding="utf-8").splitlines()[1:]
    except FileNotFoundError:
        return {}
    return {cols[1]: cols[4] for cols in (r.split("\t") for r in rows) if len(cols) == 5}


def with_password_hash(province_text: str, hashed: str) -> str:
    """Province text whose every agent and agent group has the initial password hash
    ``hashed``: one password for everybody, for benchmarks and tests only."""
    line = f'password_hash = "{hashed}"\n'
    for table in ("[[agents]]\n", "[[agent_groups]]\n"):
        province_text = province_text.replace(table, table + line)
    return province_text
