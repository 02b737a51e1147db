"""Initial secrets of a local province: one per person without a hash in the directory,
each site given only its own people's hashes (owner-only files), the operator's sheet,
kept across restarts; the site installs them as passwords to change at first sign-in;
``vcc hash-password``."""

from __future__ import annotations

import asyncio
import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.integration._helpers.site import TEST_HASH
from vcc_domain.clock import ManualClock
from vcc_domain.errors import InvalidInput
from vcc_domain.province import Province, load_province_file
from vcc_ops.cli import example_province_path, main
from vcc_ops.people_secrets import SHEET, provision
from vcc_proto.initial_secrets import HUB, hashes_path, read_hashes
from vcc_site.domain.secrets import hash_generated_secret, hash_secret, verify_secret
from vcc_site.service.core import SiteCore
from vcc_site.service.recovery import seed_site
from vcc_site.store.memory import MemorySiteStore


def _without_hashes(sites: tuple[str, ...]) -> Province:
    """The example province (which ships no password hashes) with one for everybody
    but the people of ``sites``."""
    base = load_province_file(example_province_path())
    agents = tuple(
        a if a.home_site in sites else replace(a, password_hash=TEST_HASH) for a in base.agents
    )
    return replace(base, agents=agents)


def _sheet(workdir: Path) -> dict[str, tuple[str, str]]:
    rows = (workdir / SHEET).read_text().splitlines()[1:]
    return {r.split("\t")[1]: (r.split("\t")[0], r.split("\t")[4]) for r in rows}


def test_each_site_gets_only_its_own_people(tmp_path: Path) -> None:
    province = _without_hashes(("YX",))
    data = tmp_path / "data"
    lines = provision(province, ["KM", "YX"], data, tmp_path)
    people = province.agents_at("YX")
    assert lines and str(tmp_path / SHEET) in lines[0]
    sheet = _sheet(tmp_path)
    province_people = {p.id for p in province.people}
    assert province_people  # the example has a province manager and operations
    # KM's people have their directory hash; the province's people never have one
    assert set(sheet) == {a.id for a in people} | province_people
    assert len({secret for _site, secret in sheet.values()}) == len(sheet)  # per person
    assert not hashes_path(data, "KM").exists()
    assert set(read_hashes(data, HUB)) == province_people
    hashes = read_hashes(data, "YX")
    some = people[0].id
    assert verify_secret(hashes[some], sheet[some][1])
    for path in (tmp_path / SHEET, hashes_path(data, "YX")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert provision(province, ["KM", "YX"], data, tmp_path)[0].startswith("initial secrets (kept")
    assert _sheet(tmp_path) == sheet


def test_the_site_installs_its_initial_hashes_to_change_at_sign_in(tmp_path: Path) -> None:
    province = _without_hashes(("YX",))
    provision(province, ["YX"], tmp_path / "data", tmp_path)
    person = province.agents_at("YX")[0].id

    async def run() -> None:
        store = MemorySiteStore("YX")
        core = SiteCore(province, "YX", store, ManualClock())
        await seed_site(core, 0, read_hashes(tmp_path / "data", "YX"))
        cred = await store.credential(person)
        assert cred is not None and cred.must_change
        assert verify_secret(cred.password_hash, _sheet(tmp_path)[person][1])

    asyncio.run(run())


def test_the_example_ships_no_secrets() -> None:
    province = load_province_file(example_province_path())
    assert province.agents and not any(a.password_hash for a in province.agents)
    assert "$argon2id$" not in example_province_path().read_text()


def test_a_bad_hashes_file_is_ignored(tmp_path: Path) -> None:
    path = hashes_path(tmp_path, "KM")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"KM-0001": "plain-text-password"}))
    assert read_hashes(tmp_path, "KM") == {}
    assert read_hashes(tmp_path, "QJ") == {}


def test_hash_password() -> None:
    runner = CliRunner()
    done = runner.invoke(main, ["hash-password", "--stdin"], input="a-good-password\n")
    assert done.exit_code == 0, done.output
    assert verify_secret(done.output.strip(), "a-good-password")
    short = runner.invoke(main, ["hash-password", "--stdin"], input="short\n")
    assert short.exit_code == 2 and "at least 8 characters" in short.output


def test_generated_secrets_get_the_cheap_hash_and_passwords_the_full_one() -> None:
    cheap = hash_generated_secret("x" * 16)
    assert cheap.startswith("$argon2id$v=19$m=8,t=1,p=1$") and verify_secret(cheap, "x" * 16)
    assert not verify_secret(cheap, "x" * 15)
    assert "$m=12288,t=3," in hash_secret("a-chosen-password")
    with pytest.raises(InvalidInput):
        hash_generated_secret("too-short")
