"""deploy/: the systemd unit verifies, the compose file parses and names what docs/deploy.md
tells the operator, the image runs the daemon as a non-root user."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
DOCS = (ROOT / "docs" / "deploy.md").read_text()


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    unit = (DEPLOY / "bidwatch.service").read_text()
    # verify checks that ExecStart exists: point it at a binary this machine has
    unit = unit.replace("/opt/bidwatch/.venv/bin/bidwatch", shutil.which("true") or "/bin/true")
    path = tmp_path / "bidwatch.service"
    path.write_text(unit)
    result = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True,
                            timeout=60)
    complaints = [line for line in (result.stdout + result.stderr).splitlines()
                  if "bidwatch.service" in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


def test_systemd_unit_is_hardened_and_stops_gracefully() -> None:
    unit = (DEPLOY / "bidwatch.service").read_text()
    for setting in ("User=bidwatch", "ProtectSystem=strict", "ReadWritePaths=/var/lib/bidwatch",
                    "NoNewPrivileges=yes", "PrivateTmp=yes", "Restart=on-failure",
                    "KillSignal=SIGTERM", "KillMode=mixed", "TimeoutStopSec=",
                    "ExecStart=/opt/bidwatch/.venv/bin/bidwatch run",
                    "ExecReload=/bin/kill -HUP $MAINPID"):
        assert setting in unit
    assert "bidwatch.service" in DOCS and "systemctl reload bidwatch" in DOCS


def test_compose_file_parses_and_matches_the_docs() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "bidwatch", "caddy"}
    daemon = services["bidwatch"]
    assert daemon["command"] == ["run"]
    assert daemon["build"]["dockerfile"] == "deploy/Containerfile"
    assert daemon["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert daemon["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert daemon["ports"] == ["127.0.0.1:9464:9464"]  # the health endpoint stays local
    assert set(compose["volumes"]) == {"postgres-data", "bidwatch-home", "caddy-data",
                                       "caddy-config"}
    # the console: on the compose network only, Caddy (TLS) its one way in
    assert daemon["environment"]["BIDWATCH_CONSOLE_LISTEN"] == "0.0.0.0:8700"
    assert daemon["environment"]["BIDWATCH_PUBLIC_URL"].startswith("https://")
    assert not any("8700" in port for port in daemon["ports"])
    proxy = services["caddy"]
    assert sorted(proxy["ports"]) == ["443:443", "80:80"]
    assert "reverse_proxy bidwatch:8700" in (DEPLOY / "Caddyfile").read_text()
    for name in ("postgres-data", "bidwatch-home", "deploy/compose.yaml", "bidwatch.env",
                 "POSTGRES_PASSWORD", "/healthz", "/metrics", "BIDWATCH_DOMAIN", "Caddyfile",
                 "BIDWATCH_CONSOLE_LISTEN", "users add"):
        assert name in DOCS, f"docs/deploy.md does not mention {name}"


def test_image_runs_the_daemon_as_a_non_root_user() -> None:
    containerfile = (DEPLOY / "Containerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim-bookworm$", containerfile, re.MULTILINE)
    assert "apt-get install" in containerfile and " chromium " in containerfile
    users = re.findall(r"^USER (\S+)$", containerfile, re.MULTILINE)
    assert users == ["bidwatch"]
    assert 'CMD ["run"]' in containerfile and "STOPSIGNAL SIGTERM" in containerfile


def test_env_example_names_only_real_settings() -> None:
    from monitor.settings import Settings

    known = {f"BIDWATCH_{name.upper()}" for name in Settings.model_fields} | {"DATABASE_URL"}
    names = set(re.findall(r"^#? ?([A-Z_]+)=", (DEPLOY / "bidwatch.env.example").read_text(),
                           re.MULTILINE))
    assert names and names <= known, names - known
