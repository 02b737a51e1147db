"""The web gateway's configuration as a site hands it to its child process."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcc_domain.errors import ConfigError
from vcc_proto.settings import SettingsError, load
from vcc_site.web.gateway import GatewayConfig, child_env, from_env
from vcc_site.web.pages import resolved
from vcc_site.web.settings import WebSettings


def test_what_a_site_resolved_reaches_its_gateway_unchanged() -> None:
    config = GatewayConfig(
        site_id="KM",
        province_file=Path("/p/province.toml"),
        site_grpc="127.0.0.1:50051",
        host="0.0.0.0",
        advertise_host="km.example",
        speed=60.0,
        parent_pid=4242,
        log_level="DEBUG",
        log_file=Path("/logs/site-KM.log"),
        log_format="json",
    )
    web = WebSettings(
        port=8443,
        tls_cert="/c.pem",
        tls_key="/k.pem",
        talk_target_s=120,
        grpc_tls_dir=Path("/pki/ops/web-KM"),
    )
    assert from_env(child_env(config, web)) == (config, web)


def test_defaults_and_no_certificate_survive_the_handover() -> None:
    config = GatewayConfig("DL", Path("p.toml"), "127.0.0.1:1")
    web = WebSettings(port=0)
    env = child_env(config, web)
    assert env["VCC_WEB_GRPC_TLS_DIR"] == "" and env["VCC_LOG_FILE"] == ""
    assert from_env(env) == (config, web)


def test_a_gateway_without_its_site_is_refused_by_name() -> None:
    env = child_env(GatewayConfig("KM", Path("p.toml"), "127.0.0.1:1"), WebSettings(port=0))
    with pytest.raises(ConfigError) as err:
        from_env({**env, "VCC_WEB_SITE_GRPC": " "})
    assert err.value.field == "VCC_WEB_SITE_GRPC"
    with pytest.raises(ConfigError) as err:
        from_env({**env, "VCC_WEB_PARENT_PID": "abc"})
    assert err.value.field == "VCC_WEB_PARENT_PID"


def test_the_pages_run_in_their_own_process_unless_told_site() -> None:
    assert WebSettings().own_process
    assert not load(WebSettings, {"VCC_WEB_PROCESS": "site"}).own_process
    with pytest.raises(SettingsError) as err:
        load(WebSettings, {"VCC_WEB_PROCESS": "thread"})
    assert err.value.field == "VCC_WEB_PROCESS"


def test_a_plaintext_site_gives_its_gateway_no_certificate() -> None:
    web = WebSettings(port=0, grpc_tls_dir=Path("/pki/ops/web-KM"))
    assert resolved(web, secure=False).grpc_tls_dir is None
    assert resolved(web, secure=True) == web
