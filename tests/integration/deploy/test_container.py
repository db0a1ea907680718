"""deploy/container, checked with what runs here (no container engine does):

- ``docker-compose config`` (Debian's docker-compose, which needs no engine to load
  and validate a file against the Compose schema) accepts compose.yaml;
- the file starts what it must, each processor on its registry's metrics port, and
  every file it mounts exists; its Prometheus configuration passes promtool;
- every path the Containerfile copies exists, and it copies every package pyproject.toml
  installs.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import yaml

from services.processors import PROCESSORS, metrics_port
from tests.support.processes import DEPLOY
from tests.support.tools import need_tool, promtool

CONTAINER = DEPLOY / "container"
ROOT = DEPLOY.parent


def compose_config() -> dict:
    tool = need_tool("docker-compose")
    done = subprocess.run(
        [tool, "-f", str(CONTAINER / "compose.yaml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def test_compose_config_accepts_the_file_and_it_starts_everything() -> None:
    config = compose_config()
    services = config["services"]
    assert {"kafka", "postgres", "prometheus", "grafana", "api", "open311", "topics"} <= set(
        services
    )
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    for name in PROCESSORS:
        service = services[name]
        assert service["command"] == ["run", name]
        assert service["environment"]["GRIDFLOW_METRICS_PORT"] == str(metrics_port(name, None))
        assert "healthcheck" in service  # /readyz
        assert service["depends_on"]["topics"]["condition"] == "service_completed_successfully"
    for name, service in services.items():
        for port in service.get("ports", []):
            published = port if isinstance(port, str) else port.get("host_ip", "")
            assert str(published).startswith("127.0.0.1"), (name, port)
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith("/"):  # a bind mount: resolved by docker-compose
                assert Path(source).exists(), (name, source)


def test_the_dashboard_is_provisioned_from_the_mounted_directory() -> None:
    config = compose_config()
    mounts = {
        (v["source"], v["target"]) if isinstance(v, dict) else tuple(v.split(":")[:2])
        for v in config["services"]["grafana"]["volumes"]
    }
    provider = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/dashboards/gridflow.yaml").read_text(encoding="utf-8")
    )["providers"][0]["options"]["path"]
    dashboards = [Path(s) for s, t in mounts if t == provider]
    assert dashboards and (dashboards[0] / "gridflow.json").is_file()


def test_the_containers_prometheus_config_is_valid(tmp_path: Path) -> None:
    text = (CONTAINER / "prometheus.yml").read_text(encoding="utf-8")
    (tmp_path / "rules.yml").write_text(
        (DEPLOY / "prometheus/rules.yml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "prometheus.yml").write_text(
        text.replace("/etc/prometheus/rules.yml", "rules.yml"), encoding="utf-8"
    )
    assert "SUCCESS" in promtool("check", "config", str(tmp_path / "prometheus.yml"))


def test_the_containerfile_copies_what_exists_and_every_package() -> None:
    text = (CONTAINER / "Containerfile").read_text(encoding="utf-8")
    copied = []
    for line in text.splitlines():
        match = re.match(r"COPY\s+(.+)\s+(\S+)$", line)
        if match:
            copied += match.group(1).split()
    for source in copied:
        assert (ROOT / source).exists(), source
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert packages <= set(copied), packages - set(copied)
    assert 'ENTRYPOINT ["gridflow"]' in text
    assert "USER gridflow" in text
