"""The team leader's wallboard (``/board``) in a real Chromium against a real KM site over
HTTPS. An agent is refused the page with a clear message; a team leader signs in (the
first sign-in's new password), sees no caller waiting and an agent signing in, then a caller offered through the
Access gRPC API waiting, and after the caller hangs up nobody waiting and the abandon
counted; the English switch. No console errors but the agent's refusal. Screenshots are
kept in the test's directory.

Skipped, saying what to install, without Chromium or the Playwright package.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._helpers.site import PASSWORD, SiteProcess
from tests.integration.test_agent_desktop_chromium import (
    CHROMIUM,
    browser_page,
    desk_site,
    sync_playwright,
)
from vcc_ops.infra import EtcdServer, NatsServer
from vcc_proto.channels import open_sync_channel
from vcc_proto.v1 import site_pb2 as s
from vcc_proto.v1 import site_pb2_grpc as sg

pytestmark = pytest.mark.integration

LEADER, AGENT = "KM-0190", "KM-0131"  # a KM team leader; a general agent
CALLER = "13700004321"  # not a customer: an ordinary caller
NEW_PASSWORD = "lead-of-my-own-2026"

if sync_playwright is not None:
    from playwright.sync_api import Page, expect


@pytest.fixture
def site(
    tmp_path: Path, nats_server: NatsServer, etcd_server: EtcdServer
) -> Iterator[tuple[SiteProcess, str]]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); the test needs it")
    if sync_playwright is None:
        pytest.skip("the Playwright package is missing (pip install -e '.[dev]')")
    proc, url = desk_site(tmp_path, nats_server, etcd_server)
    try:
        yield proc, url
    finally:
        proc.stop()


def waiting(page: Page) -> object:
    return page.locator("#b-general td.waiting")


def test_a_team_leader_sees_a_caller_wait(site: tuple[SiteProcess, str], tmp_path: Path) -> None:
    proc, url = site
    channel = open_sync_channel(proc.target)
    access = sg.AccessStub(channel)
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser_page(browser, errors)
        try:
            page.goto(url + "board")
            expect(page.locator("#login-h")).to_have_text("班长登录")
            page.fill("#person-id", AGENT)
            page.fill("#password", PASSWORD)
            page.press("#password", "Enter")
            expect(page.locator("#login-error")).to_contain_text("仅供班长")
            expect(page.locator("#board")).to_be_hidden()

            page.fill("#person-id", LEADER)
            page.fill("#password", PASSWORD)
            page.press("#password", "Enter")
            expect(page.locator("#new-password")).to_be_focused()
            page.fill("#new-password", NEW_PASSWORD)
            page.fill("#confirm-password", NEW_PASSWORD)
            page.press("#confirm-password", "Enter")
            expect(page.locator("#board")).to_be_visible()
            expect(waiting(page)).to_have_text("0")
            sg.AgentDeskStub(channel).Login(
                s.LoginRequest(agent_id=AGENT, password=PASSWORD, device="test")
            )
            expect(page.locator(f"#a-{AGENT} td.state")).to_have_text("未就绪")

            step = access.OfferCall(s.OfferCallRequest(caller_number=CALLER, dialed_code="1000"))
            step = access.SendDigits(s.SendDigitsRequest(call_id=step.call_id, digits="0"))
            assert step.WhichOneof("next") == "queued", step
            expect(waiting(page)).to_have_text("1")
            page.screenshot(path=str(tmp_path / "board-waiting.png"), full_page=True)

            access.HangUp(s.CallRef(call_id=step.call_id))
            expect(waiting(page)).to_have_text("0")
            expect(page.locator("#b-general td.abandoned")).to_have_text("1")

            page.click("#lang")
            expect(page.locator("#queues-h")).to_have_text("Queues by business")
            page.screenshot(path=str(tmp_path / "board-english.png"), full_page=True)
        finally:
            browser.close()
            channel.close()
    # Chromium logs each error answer: the agent's refusal, and nothing else
    assert len(errors) == 1 and "403" in errors[0] and errors[0].endswith("/api/board/login"), (
        errors
    )
