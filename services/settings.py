"""Every setting gridflow reads, from environment variables prefixed ``GRIDFLOW_``.

This is the one place settings are named; the README's configuration table is
written from it.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.processing import MAX_VALUE_BYTES

DEFAULT_PG_URL = "postgresql+psycopg2://gridflow:gridflow@127.0.0.1:55432/gridflow"


class ClockMode(StrEnum):
    SYSTEM = "system"  # the machine's clock
    TICKS = "ticks"  # the latest ClockTicked on gridflow.clock (simulation, tests)


class KafkaClient(StrEnum):
    KAFKA_PYTHON = "kafka-python"  # pure Python
    CONFLUENT = "confluent"  # confluent-kafka, on librdkafka (C)


class ErrorPolicy(StrEnum):
    DEADLETTER = "deadletter"  # a message that fails alone is dead-lettered; the rest go on
    STOP = "stop"  # the processor stops on it, for operators who want to look first


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRIDFLOW_", extra="ignore")

    namespace: str = Field(
        default="gridflow",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$",
        description="Prefix of every topic and consumer-group name, so that several "
        "pipelines (two sites, a test and a benchmark) can share one broker.",
    )
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated."
    )
    kafka_client: KafkaClient = Field(
        default=KafkaClient.KAFKA_PYTHON,
        description="The Kafka client the processors run on: kafka-python, or confluent "
        "(confluent-kafka on librdkafka). Same ports, offsets, partitioner and security.",
    )
    database_url: str = Field(
        default=DEFAULT_PG_URL, description="SQLAlchemy URL of the processors' database."
    )
    site: Path | None = Field(
        default=None, description="Site catalogue directory; default: the bundled Zhuangshi site."
    )
    subscriptions: Path | None = Field(
        default=None, description="Notifier subscriptions YAML; default: the bundled file."
    )
    clock: ClockMode = Field(default=ClockMode.SYSTEM, description="system, or ticks.")
    calendar_reload_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How often the router and the escalator look at the site's calendar.yaml "
        "for a new State Council notice, in seconds; a change is taken up while they run "
        "(services/calendar_watch.py). 0: only at start.",
    )
    site_reload_seconds: float = Field(
        default=30.0,
        ge=0,
        description="How often intake and the router look at the site directory's files, in "
        "seconds; a changed catalogue that validates is taken up between batches, one that "
        "needs new topics or ACLs once gridflow site reload provisioned it "
        "(services/site_watch.py). 0: only at start.",
    )
    tick_seconds: float = Field(
        default=5.0,
        gt=0,
        description="The longest the escalator sleeps between two deadline checks (system "
        "clock): it wakes for the next due time sooner, and this bound catches deadlines "
        "another instance armed.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Prometheus port of `gridflow run`; with `gridflow up`, intake's, and "
        "each other processor takes the next one. Default 9401-9405 by processor; 0: off.",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        description="Address the processors' /metrics, /healthz and /readyz listen on; "
        "loopback by default, 0.0.0.0 to let a Prometheus on another host scrape them.",
    )
    ready_max_lag: int = Field(
        default=10_000,
        ge=0,
        description="Most records a processor may be behind its topics and still answer "
        "/readyz with 200.",
    )
    state_metrics_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often the router and the escalator count their open cases and "
        "deadlines in the database for the state gauges (one grouped query each).",
    )
    batch_size: int = Field(default=500, ge=1, description="Most records processed per batch.")
    poll_timeout_ms: int = Field(default=500, ge=1, description="Longest wait for a batch.")
    instance_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="This process's static group membership id (`group.instance.id`): "
        "stable across its restarts, unique among the live instances of one processor. "
        "Default: `<namespace>.<processor>-<host name>-<slot>`, the slot being the lowest "
        "one free on this machine.",
    )
    session_timeout_ms: int = Field(
        default=10_000,
        ge=6_000,
        le=300_000,
        description="How long the broker waits for a silent consumer before it moves the "
        "consumer's partitions to others; a restart within it resumes without a rebalance.",
    )
    api_host: str = Field(
        default="127.0.0.1", min_length=1, description="Address `gridflow serve api` binds."
    )
    api_port: int = Field(default=8400, ge=0, le=65535, description="Port of `gridflow serve api`.")
    api_tokens: dict[str, str] = Field(
        default_factory=dict,
        description='The query API\'s bearer tokens, JSON: {"<sha256 of the token, hex>": '
        '"<sender id>"}: a unit, a sender of senders.yaml, or operations. `gridflow api '
        "token <sender>` makes one. No token configured: every request is refused (401).",
    )
    archive_inbox_days: float | None = Field(
        default=None,
        gt=0,
        description="`gridflow archive prune` deletes the inbox's event ids older than this "
        "many days (every processor's); unset: kept for ever. Redelivery older than this is "
        "no longer recognised, so keep it above the topics' retention.",
    )
    archive_dead_letter_days: float | None = Field(
        default=None,
        gt=0,
        description="`gridflow archive prune` deletes archived dead letters, and the full "
        "bodies of cut-down ones, older than this many days; unset: kept for ever.",
    )
    intake_max_bytes: int = Field(
        default=MAX_VALUE_BYTES,
        ge=1024,
        description="Largest report or command intake reads, and largest Open311 POST body, "
        "in bytes: a larger one is refused by its size before it is parsed (dead letter "
        "too_large, original kept; HTTP 400). Every report the schema allows fits the default.",
    )
    open311_host: str = Field(
        default="127.0.0.1", min_length=1, description="Address `gridflow serve open311` binds."
    )
    open311_port: int = Field(
        default=8311, ge=0, le=65535, description="Port of `gridflow serve open311`."
    )
    open311_api_keys: dict[str, str] = Field(
        default_factory=dict,
        description='Open311 API keys, JSON: {"<key>": "<channel sender id>"}; a POST with '
        "a key goes to that sender's report topic. No key: every POST is refused (403).",
    )
    open311_jurisdictions: list[dict[str, str]] = Field(
        default_factory=list,
        description='The sites the gateway serves, JSON: [{"site": "<directory>", '
        '"namespace": "...", "database_url": "..."}]; jurisdiction_id is the site id. '
        "Default: the configured site, namespace and database.",
    )
    open311_ack_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Longest a POST waits for the broker's acknowledgement before 503.",
    )
    on_error: ErrorPolicy = Field(
        default=ErrorPolicy.DEADLETTER, description="deadletter, or stop, on a failing message."
    )
    topic_replication: int = Field(default=1, ge=1, description="Replication of created topics.")
    run_dir: Path = Field(
        default=Path(".run"),
        description="Where the deploy scripts keep the servers' data and logs, and the "
        "demo its database and log.",
    )
    notify_sender_inline: bool = Field(
        default=True,
        description="Run the notifier's sender (the outbox's deliveries) as a thread of "
        "`gridflow run notifier`; false: run it alone with `gridflow notify send`.",
    )
    notify_concurrency: int = Field(
        default=16, ge=1, le=512, description="Deliveries the sender makes at once."
    )
    notify_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a sender holds a delivery it claimed; a sender killed "
        "mid-delivery leaves it to be claimed again after this.",
    )
    notify_idle_seconds: float = Field(
        default=1.0, gt=0, description="Longest the sender sleeps with nothing due."
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for residents' email; unset: no email."
    )
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port.")
    smtp_from: str = Field(default="gridflow@localhost", description="Email From address.")
    smtp_tls: str = Field(
        default="none", pattern=r"^(none|starttls|ssl)$", description="none, starttls or ssl."
    )
    smtp_username: str | None = Field(default=None, description="SMTP login, if any.")
    smtp_password: str | None = Field(default=None, description="SMTP password (a secret).")
    sms_gateway_url: str | None = Field(
        default=None, description="SMS gateway's HTTP endpoint; unset: no SMS."
    )
    sms_gateway_auth: str | None = Field(
        default=None, description="One header for the gateway, 'Name: value' (a secret)."
    )
    sms_body_template: str | None = Field(
        default=None,
        description="The gateway's JSON body, with {{phone}}, {{text}} and {{key}}.",
    )
    log_level: str = Field(default="INFO", description="Python logging level.")
    log_format: str = Field(default="json", description="json, or console.")
