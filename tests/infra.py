"""Locate or start the real Kafka broker and PostgreSQL server that tests run against.

``kafka_bootstrap()`` returns a bootstrap address such as ``"127.0.0.1:9092"`` and
``postgres_url()`` a SQLAlchemy URL such as
``"postgresql+psycopg2://gridflow:gridflow@127.0.0.1:55432/gridflow"``. Each tries, in order:

1. The environment: ``GRIDFLOW_KAFKA_BOOTSTRAP`` / ``GRIDFLOW_DATABASE_URL``, used as-is once it
   answers (if set but dead, that is an error: no other server is started behind your back).
2. testcontainers, only when a Docker engine answers (``GRIDFLOW_INFRA_NO_DOCKER=1`` skips it).
   Containers start once per process and stop at exit. Images can be overridden with
   ``GRIDFLOW_TEST_KAFKA_IMAGE`` / ``GRIDFLOW_TEST_POSTGRES_IMAGE``.
3. The repo's deploy scripts (``deploy/kafka/start.sh``, ``deploy/postgres/start.sh``), which
   honour ``GRIDFLOW_RUN_DIR``, ``GRIDFLOW_KAFKA_PORT`` and ``GRIDFLOW_PG_PORT``. A server that
   already answers at the scripts' address is reused and left running; one this module had to
   start is stopped at exit, unless ``GRIDFLOW_KEEP_INFRA=1`` or under a pytest-xdist worker.

The SASL/SCRAM broker with ACLs (``deploy/kafka/start.sh --sasl``) is found by
``kafka_sasl()``, from ``GRIDFLOW_KAFKA_SASL_BOOTSTRAP`` or else the script (no testcontainers:
the container would need the same listeners, JAAS and authorizer set up). It returns the address
and the admin's credentials: ``GRIDFLOW_KAFKA_ADMIN_USER`` and
``GRIDFLOW_KAFKA_ADMIN_PASSWORD(_FILE)`` when set, else the password the script generated into
``$GRIDFLOW_RUN_DIR/kafka-sasl``.

Results (and failures) are cached per process, so a missing server costs one attempt, not one
per test. ``need_kafka()`` / ``need_postgres()`` turn a failure into ``pytest.fail`` when the
environment variable ``CI`` is ``"true"`` and into ``pytest.skip`` otherwise.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_ENV = "GRIDFLOW_KAFKA_BOOTSTRAP"
POSTGRES_ENV = "GRIDFLOW_DATABASE_URL"
SCRIPT_TIMEOUT_S = float(os.environ.get("GRIDFLOW_INFRA_START_TIMEOUT", "900"))
_TAIL_LINES = 40

__all__ = [
    "REPO_ROOT",
    "InfraUnavailable",
    "kafka_alive",
    "kafka_bootstrap",
    "kafka_sasl",
    "need_kafka",
    "need_kafka_sasl",
    "need_postgres",
    "postgres_alive",
    "postgres_url",
    "require",
]


class InfraUnavailable(RuntimeError):
    """No usable Kafka broker / PostgreSQL server could be found or started."""


# --------------------------------------------------------------------------------- probes


def _tcp_open(host: str, port: int, timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _split_host_port(address: str, default_port: int) -> tuple[str, int]:
    address = address.strip()
    if "://" in address:  # e.g. PLAINTEXT://host:port
        address = address.split("://", 1)[1]
    host, sep, port = address.rpartition(":")
    if not sep:
        return address, default_port
    return host.strip("[]"), int(port)


def kafka_alive(
    bootstrap: str, timeout_s: float = 5.0, security: Mapping[str, Any] | None = None
) -> tuple[bool, str]:
    """Return (answers, detail): TCP connect to a bootstrap server, then an Admin metadata call
    (authenticated with the kafka-python ``security`` kwargs, when given)."""
    servers = [s for s in bootstrap.split(",") if s.strip()]
    if not servers:
        return False, "empty bootstrap address"
    try:
        if not any(_tcp_open(*_split_host_port(s, 9092)) for s in servers):
            return False, f"nothing accepts TCP connections at {bootstrap}"
    except ValueError as exc:
        return False, f"bad bootstrap address {bootstrap!r}: {exc}"
    # kafka-python 3.0.x emits DeprecationWarnings (importlib.resources.read_text) while it loads
    # its protocol schemas; under `-W error` that would make a live broker look dead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _kafka_metadata_ok(servers, bootstrap, timeout_s, security or {})


def _kafka_metadata_ok(
    servers: list[str], bootstrap: str, timeout_s: float, security: Mapping[str, Any]
) -> tuple[bool, str]:
    try:
        from kafka import KafkaAdminClient
    except ImportError:
        return True, "TCP port open (kafka-python not installed, metadata not checked)"
    timeout_ms = int(timeout_s * 1000)
    config: dict[str, Any] = {
        "bootstrap_servers": servers,
        "client_id": "gridflow-infra-probe",
        "request_timeout_ms": timeout_ms,
        **security,
    }
    for key in ("bootstrap_timeout_ms", "api_version_auto_timeout_ms"):  # 3.x / 2.x names
        if key in KafkaAdminClient.DEFAULT_CONFIG:
            config[key] = timeout_ms
    admin = None
    try:
        admin = KafkaAdminClient(**config)
        admin.list_topics()
        return True, "broker answered a metadata request"
    except Exception as exc:
        return False, f"Kafka metadata request to {bootstrap} failed: {exc!r}"
    finally:
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()


def _libpq_dsn(url: str) -> str:
    """SQLAlchemy URL -> libpq URL: drop the ``+driver`` suffix from the scheme."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme == "postgres":
        scheme = "postgresql"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def postgres_alive(url: str, connect_timeout: int = 3) -> tuple[bool, str]:
    """Return (answers, detail): log in with the URL's credentials and run ``SELECT 1``."""
    try:
        import psycopg2
    except ImportError:
        parts = urlsplit(url)
        if _tcp_open(parts.hostname or "127.0.0.1", parts.port or 5432):
            return True, "TCP port open (psycopg2 not installed, login not checked)"
        return False, f"nothing accepts TCP connections for {_redact(url)}"
    try:
        conn = psycopg2.connect(_libpq_dsn(url), connect_timeout=connect_timeout)
    except Exception as exc:
        return False, f"cannot connect to {_redact(url)}: {str(exc).strip()}"
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
        return True, "server accepted the login"
    except Exception as exc:
        return False, f"connected to {_redact(url)} but SELECT 1 failed: {exc}"
    finally:
        conn.close()


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# --------------------------------------------------------------------------------- docker


_docker_state: dict[str, bool] = {}


def _docker_available() -> bool:
    """True when a Docker engine answers (checked once, with short timeouts)."""
    if "ok" in _docker_state:
        return _docker_state["ok"]
    ok = False
    if os.environ.get("GRIDFLOW_INFRA_NO_DOCKER", "") not in ("", "0"):
        ok = False
    elif shutil.which("docker"):
        try:
            proc = subprocess.run(
                ["docker", "info", "--format", "{{.ServerVersion}}"],
                capture_output=True,
                text=True,
                timeout=8,
                check=False,
            )
            ok = proc.returncode == 0 and bool(proc.stdout.strip())
        except (OSError, subprocess.TimeoutExpired):
            ok = False
    elif not os.environ.get("DOCKER_HOST") and os.path.exists("/var/run/docker.sock"):
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(3)
                sock.connect("/var/run/docker.sock")
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                ok = b"OK" in sock.recv(4096)
        except OSError:
            ok = False
    _docker_state["ok"] = ok
    return ok


def _stop_container(container: Any) -> None:
    with contextlib.suppress(Exception):  # best effort at interpreter exit
        container.stop()


def _kafka_container() -> str:
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:
        from testcontainers.kafka import KafkaContainer  # testcontainers < 4.14

    image = os.environ.get("GRIDFLOW_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0")
    container = KafkaContainer(image).with_kraft()
    container.with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    container.start()
    atexit.register(_stop_container, container)
    return str(container.get_bootstrap_server())


def _postgres_container() -> str:
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        from testcontainers.postgres import PostgresContainer  # testcontainers < 4.14

    image = os.environ.get("GRIDFLOW_TEST_POSTGRES_IMAGE", "postgres:15")
    container = PostgresContainer(
        image, username="gridflow", password="gridflow", dbname="gridflow", driver="psycopg2"
    )
    container.start()
    atexit.register(_stop_container, container)
    return str(container.get_connection_url())


# --------------------------------------------------------------------------------- scripts


def _tail(text: str, lines: int = _TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _keep_running() -> bool:
    if os.environ.get("GRIDFLOW_KEEP_INFRA", "") not in ("", "0"):
        return True
    # Under pytest-xdist several workers share one server: never stop it from a worker.
    return bool(os.environ.get("PYTEST_XDIST_WORKER"))


def _run_script(script: Path, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _stop_script(script: Path) -> None:
    with contextlib.suppress(Exception):  # best effort at interpreter exit
        _run_script(script, [], timeout=120)


def _via_script(
    name: str, deploy_dir: str, default: str, alive: Callable[[str], tuple[bool, str]]
) -> str:
    """Reuse a server at the scripts' default address, or run start.sh and use what it prints."""
    ok, _ = alive(default)
    if ok:
        return default
    start = REPO_ROOT / "deploy" / deploy_dir / "start.sh"
    if not start.is_file():
        raise InfraUnavailable(f"{name}: {start} is missing")
    try:
        proc = _run_script(start, [], timeout=SCRIPT_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"") + (exc.stderr or b"")
        text = out.decode(errors="replace") if isinstance(out, bytes) else str(out)
        raise InfraUnavailable(
            f"{name}: {start} did not finish within {SCRIPT_TIMEOUT_S:.0f}s\n{_tail(text)}"
        ) from None
    except OSError as exc:
        raise InfraUnavailable(f"{name}: cannot run {start}: {exc}") from None
    output = _tail(proc.stdout + "\n" + proc.stderr)
    if proc.returncode != 0:
        raise InfraUnavailable(f"{name}: {start} exited {proc.returncode}\n{output}")
    lines = proc.stdout.strip().splitlines()
    address = lines[-1].strip() if lines else default
    if not _keep_running():
        atexit.register(_stop_script, start.with_name("stop.sh"))
    ok, detail = alive(address)
    if not ok:
        raise InfraUnavailable(f"{name}: started by {start} but {detail}\n{output}")
    return address


# --------------------------------------------------------------------------------- resolution


_lock = threading.RLock()
_resolved: dict[str, str] = {}
_failed: dict[str, InfraUnavailable] = {}


def _resolve(
    kind: str,
    env_var: str,
    alive: Callable[[str], tuple[bool, str]],
    container: Callable[[], str],
    script: Callable[[], str],
) -> str:
    """Env var, then testcontainers, then the deploy script; cached (failures too) per kind."""
    with _lock:
        if kind in _resolved:
            return _resolved[kind]
        if kind in _failed:
            raise _failed[kind]
        try:
            address = _first_available(kind, env_var, alive, [container, script])
        except InfraUnavailable as exc:
            _failed[kind] = exc
            raise
        _resolved[kind] = address
        return address


def _first_available(
    kind: str,
    env_var: str,
    alive: Callable[[str], tuple[bool, str]],
    starters: list[Callable[[], str]],
) -> str:
    configured = os.environ.get(env_var, "").strip()
    if configured:
        ok, detail = alive(configured)
        if ok:
            return configured
        raise InfraUnavailable(f"{env_var} is set but the {kind} server does not answer: {detail}")
    reasons = [f"{env_var} is not set"]
    container, script = starters

    if _docker_available():
        try:
            address = container()
        except ImportError as exc:
            reasons.append(f"Docker answers but testcontainers is not importable: {exc}")
        except Exception as exc:
            reasons.append(f"testcontainers could not start {kind}: {exc!r}")
        else:
            ok, detail = alive(address)
            if ok:
                return address
            reasons.append(f"testcontainers started {kind} at {address} but {detail}")
    else:
        reasons.append("no Docker engine answers (testcontainers not tried)")

    try:
        return script()
    except InfraUnavailable as exc:
        reasons.append(str(exc))
    raise InfraUnavailable(f"no {kind} server available:\n- " + "\n- ".join(reasons))


def _kafka_script() -> str:
    port = os.environ.get("GRIDFLOW_KAFKA_PORT", "9092")
    return _via_script("kafka", "kafka", f"127.0.0.1:{port}", kafka_alive)


def _postgres_script() -> str:
    port = os.environ.get("GRIDFLOW_PG_PORT", "55432")
    default = f"postgresql+psycopg2://gridflow:gridflow@127.0.0.1:{port}/gridflow"
    return _via_script("postgres", "postgres", default, postgres_alive)


def kafka_bootstrap() -> str:
    """Bootstrap address of a live Kafka broker, e.g. ``"127.0.0.1:9092"``."""
    return _resolve("kafka", KAFKA_ENV, kafka_alive, _kafka_container, _kafka_script)


def postgres_url() -> str:
    """SQLAlchemy URL (psycopg2 driver) of a live PostgreSQL database."""
    return _resolve("postgres", POSTGRES_ENV, postgres_alive, _postgres_container, _postgres_script)


@dataclass(frozen=True)
class SaslKafka:
    """The SASL/SCRAM + ACL broker, and how to reach it as its super user."""

    bootstrap: str
    admin_user: str
    admin_password: str
    run_dir: Path
    """The script's run dir (``$GRIDFLOW_RUN_DIR/kafka-sasl``): where tests keep their files."""

    def admin(self) -> dict[str, Any]:
        """kafka-python kwargs to connect as the admin."""
        return {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": self.admin_user,
            "sasl_plain_password": self.admin_password,
        }


KAFKA_SASL_ENV = "GRIDFLOW_KAFKA_SASL_BOOTSTRAP"
_sasl: dict[str, SaslKafka] = {}
_sasl_failed: dict[str, InfraUnavailable] = {}


def _sasl_run_dir() -> Path:
    return Path(os.environ.get("GRIDFLOW_RUN_DIR") or REPO_ROOT / ".run").resolve() / "kafka-sasl"


def _admin_password(run_dir: Path) -> str | None:
    """The admin's password as the script resolves it: the file, the variable, the generated."""
    if os.environ.get("GRIDFLOW_KAFKA_ADMIN_PASSWORD_FILE"):
        lines = Path(os.environ["GRIDFLOW_KAFKA_ADMIN_PASSWORD_FILE"]).read_text().splitlines()
        return lines[0] if lines else None
    if os.environ.get("GRIDFLOW_KAFKA_ADMIN_PASSWORD"):
        return os.environ["GRIDFLOW_KAFKA_ADMIN_PASSWORD"]
    generated = run_dir / "admin.password"
    return generated.read_text().strip() if generated.is_file() else None


def _find_sasl() -> SaslKafka:
    run_dir = _sasl_run_dir()
    user = os.environ.get("GRIDFLOW_KAFKA_ADMIN_USER", "gridflow.admin")

    def found(address: str) -> tuple[SaslKafka | None, str]:
        password = _admin_password(run_dir)
        if password is None:
            return None, f"no admin password (GRIDFLOW_KAFKA_ADMIN_PASSWORD or {run_dir})"
        broker = SaslKafka(address, user, password, run_dir)
        ok, detail = kafka_alive(address, security=broker.admin())
        return (broker if ok else None), detail

    configured = os.environ.get(KAFKA_SASL_ENV, "").strip()
    if configured:
        broker, detail = found(configured)
        if broker is None:
            raise InfraUnavailable(f"{KAFKA_SASL_ENV} is set but no SASL broker answers: {detail}")
        return broker
    default = f"127.0.0.1:{os.environ.get('GRIDFLOW_KAFKA_SASL_PORT', '9094')}"
    if _tcp_open(*_split_host_port(default, 9094)):
        broker, detail = found(default)
        if broker is not None:
            return broker  # the scripts' broker, already running: reused and left running
    start = REPO_ROOT / "deploy" / "kafka" / "start.sh"
    try:
        proc = _run_script(start, ["--sasl"], timeout=SCRIPT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise InfraUnavailable(
            f"kafka-sasl: {start} --sasl took over {SCRIPT_TIMEOUT_S:.0f}s"
        ) from None
    except OSError as exc:
        raise InfraUnavailable(f"kafka-sasl: cannot run {start}: {exc}") from None
    output = _tail(proc.stdout + "\n" + proc.stderr)
    if proc.returncode != 0:
        raise InfraUnavailable(f"kafka-sasl: {start} --sasl exited {proc.returncode}\n{output}")
    lines = proc.stdout.strip().splitlines()
    if not _keep_running():
        atexit.register(_stop_sasl, start.with_name("stop.sh"))
    broker, detail = found(lines[-1].strip() if lines else default)
    if broker is None:
        raise InfraUnavailable(f"kafka-sasl: started by {start} --sasl but {detail}\n{output}")
    return broker


def _stop_sasl(script: Path) -> None:
    with contextlib.suppress(Exception):  # best effort at interpreter exit
        _run_script(script, ["--sasl"], timeout=120)


def kafka_sasl() -> SaslKafka:
    """The SASL/SCRAM + ACL broker and its admin; raises InfraUnavailable when there is none."""
    with _lock:
        if "kafka-sasl" in _sasl:
            return _sasl["kafka-sasl"]
        if "kafka-sasl" in _sasl_failed:
            raise _sasl_failed["kafka-sasl"]
        try:
            _sasl["kafka-sasl"] = _find_sasl()
        except InfraUnavailable as exc:
            _sasl_failed["kafka-sasl"] = exc
            raise
        return _sasl["kafka-sasl"]


def need_kafka_sasl() -> SaslKafka:
    """The SASL broker for a test; pytest.fail on CI, pytest.skip elsewhere."""
    try:
        return kafka_sasl()
    except InfraUnavailable as exc:
        _missing(f"kafka-sasl unavailable: {exc}")


_KINDS: dict[str, Callable[[], str]] = {"kafka": kafka_bootstrap, "postgres": postgres_url}


def require(kind: str) -> str:
    """Address for ``kind`` ("kafka" or "postgres"); raises InfraUnavailable when there is none."""
    try:
        getter = _KINDS[kind]
    except KeyError:
        raise ValueError(
            f"unknown infrastructure kind {kind!r}; use one of {sorted(_KINDS)}"
        ) from None
    return getter()


def _missing(message: str) -> NoReturn:
    import pytest

    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def need(kind: str) -> str:
    """Like ``require`` for tests: fail when ``CI=true``, otherwise skip, if unavailable."""
    try:
        return require(kind)
    except InfraUnavailable as exc:
        _missing(f"{kind} unavailable: {exc}")


def need_kafka() -> str:
    """Kafka bootstrap address for a test; pytest.fail on CI, pytest.skip elsewhere."""
    return need("kafka")


def need_postgres() -> str:
    """PostgreSQL SQLAlchemy URL for a test; pytest.fail on CI, pytest.skip elsewhere."""
    return need("postgres")
