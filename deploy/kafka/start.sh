#!/usr/bin/env bash
# Start a single-node Apache Kafka broker (KRaft, combined broker+controller) for local
# development and tests. Idempotent: if a broker already answers on the port it exits 0.
#
# The broker jars come from Maven Central through pom.xml (resolved into target/libs/ on first
# use, which needs `mvn`); the broker runs as `java -cp 'target/libs/*' kafka.Kafka`.
#
# Environment:
#   GRIDFLOW_RUN_DIR                   runtime root (default: <repo>/.run); Kafka uses ./kafka
#   GRIDFLOW_KAFKA_PORT                client (PLAINTEXT) port on 127.0.0.1 (default: 9092)
#   GRIDFLOW_KAFKA_CONTROLLER_PORT     KRaft controller port on 127.0.0.1 (default: 9093)
#   GRIDFLOW_KAFKA_HEAP_OPTS           JVM heap flags (default: -Xms256m -Xmx1536m)
#   GRIDFLOW_KAFKA_START_TIMEOUT       seconds to wait for the broker to answer (default: 90)
#
# Layout under $GRIDFLOW_RUN_DIR/kafka: server.properties, log4j2*.properties (generated each
# start), data/ (topic logs + KRaft metadata, formatted once), logs/ (server.log, kafka.out),
# kafka.pid. Prints the bootstrap address (127.0.0.1:PORT) as its last line of output.
#
# `--sasl` starts the secured broker instead, alongside the open one:
# SASL_PLAINTEXT + SCRAM-SHA-512 for clients, the KRaft StandardAuthorizer with no access
# unless an ACL grants it, and one super user, the admin. Its own run dir and ports:
#   GRIDFLOW_KAFKA_SASL_PORT             client (SASL_PLAINTEXT) port (default: 9094)
#   GRIDFLOW_KAFKA_SASL_CONTROLLER_PORT  KRaft controller port, SASL PLAIN (default: 9095)
#   GRIDFLOW_KAFKA_ADMIN_USER            the super user (default: gridflow.admin)
#   GRIDFLOW_KAFKA_ADMIN_PASSWORD_FILE   file holding its password, or
#   GRIDFLOW_KAFKA_ADMIN_PASSWORD        the password itself; with neither, a random one is
#                                        generated once into $RUN/admin.password (mode 0600)
# Layout under $GRIDFLOW_RUN_DIR/kafka-sasl: the same, plus admin.password (if generated) and
# admin.properties (Java client config for the admin: `--command-config`), both mode 0600.
set -euo pipefail

SASL=""
for arg in "$@"; do
  case "$arg" in
    --sasl) SASL=1 ;;
    -h | --help) sed -n '2,34p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "usage: $0 [--sasl]" >&2; exit 2 ;;
  esac
done

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
RUN_ROOT="${GRIDFLOW_RUN_DIR:-$REPO/.run}"
mkdir -p "$RUN_ROOT"
RUN_ROOT="$(cd "$RUN_ROOT" && pwd)"
RUN="$RUN_ROOT/kafka${SASL:+-sasl}"
DATA="$RUN/data"
LOGS="$RUN/logs"
PID_FILE="$RUN/kafka.pid"
PORT_FILE="$RUN/kafka.port"
CONFIG="$RUN/server.properties"
BROKER_LOG4J="$RUN/log4j2.properties"
TOOLS_LOG4J="$RUN/log4j2-tools.properties"
PROBE_SRC="$RUN/probe/KafkaProbe.java"
PROBE_CLASSES="$RUN/probe/classes"
LIBS="$HERE/target/libs"
STAMP="$LIBS/.pom.sha256"

if [[ -n "$SASL" ]]; then
  PORT="${GRIDFLOW_KAFKA_SASL_PORT:-9094}"
  CONTROLLER_PORT="${GRIDFLOW_KAFKA_SASL_CONTROLLER_PORT:-9095}"
  ADMIN_USER="${GRIDFLOW_KAFKA_ADMIN_USER:-gridflow.admin}"
  ADMIN_PASSWORD_FILE="$RUN/admin.password"
  CLIENT_CONFIG="$RUN/admin.properties"
  PORT_VAR=GRIDFLOW_KAFKA_SASL_PORT CONTROLLER_VAR=GRIDFLOW_KAFKA_SASL_CONTROLLER_PORT
  STOP="deploy/kafka/stop.sh --sasl"
else
  PORT="${GRIDFLOW_KAFKA_PORT:-9092}"
  CONTROLLER_PORT="${GRIDFLOW_KAFKA_CONTROLLER_PORT:-9093}"
  CLIENT_CONFIG=""
  PORT_VAR=GRIDFLOW_KAFKA_PORT CONTROLLER_VAR=GRIDFLOW_KAFKA_CONTROLLER_PORT
  STOP="deploy/kafka/stop.sh"
fi
# Each test run and bench run makes a namespace of its own (some 400 topics, several
# thousand partitions), and the broker keeps every partition's state on its heap: at
# 512 MiB, one broker under a day of runs (about 10,000 partitions) died of
# OutOfMemoryError, taking the rest of a test run with it.
HEAP_OPTS="${GRIDFLOW_KAFKA_HEAP_OPTS:--Xms256m -Xmx1536m}"
TIMEOUT="${GRIDFLOW_KAFKA_START_TIMEOUT:-90}"
BOOTSTRAP="127.0.0.1:$PORT"

log() { printf '[kafka] %s\n' "$*"; }
die() { printf '[kafka] ERROR: %s\n' "$*" >&2; exit 1; }

port_open() {
  # Bash's /dev/tcp: succeeds only if something accepts on 127.0.0.1:$1.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pid_alive() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid="$(cat "$PID_FILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka'
}

# ---------------------------------------------------------------------------------- tooling
command -v java >/dev/null || die "java not found (Kafka 4.x needs Java 17+)"
HAVE_COMPILER=""
if command -v javac >/dev/null; then HAVE_COMPILER=1; fi

resolve_jars() {
  local want
  want="$(sha256sum "$HERE/pom.xml" | cut -d' ' -f1)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] \
    && compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found: needed once to fetch the Kafka jars"
  log "resolving Kafka jars with Maven into $LIBS (first run only) ..."
  rm -rf "$LIBS"
  # Maven 3.8 prints stray ANSI resets even with -B -q: keep its output in a log.
  if ! mvn -B -q -Dstyle.color=never -f "$HERE/pom.xml" package >"$LOGS/maven.log" 2>&1; then
    tail -n 40 "$LOGS/maven.log" >&2
    die "maven could not resolve the Kafka jars (full output: $LOGS/maven.log)"
  fi
  compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null || die "maven ran but $LIBS has no kafka jar"
  printf '%s\n' "$want" >"$STAMP"
}

write_tool_files() {
  mkdir -p "$RUN/probe"
  # Command-line tools (StorageTool, the probe) only report errors, to stderr.
  cat >"$TOOLS_LOG4J" <<'EOF'
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = error
rootLogger.appenderRef.err.ref = STDERR
EOF
  # A real client round trip: describe the cluster and list topics through the Admin API.
  # Compiled once into probe/classes (recompiled when this source changes).
  local src
  src="$(cat <<'EOF'
import java.io.FileReader;
import java.io.IOException;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;

public class KafkaProbe {
    public static void main(String[] args) throws IOException {
        Properties props = new Properties();
        if (args.length > 1) {  // client security settings (the SASL broker's admin)
            try (FileReader in = new FileReader(args[1])) {
                props.load(in);
            }
        }
        props.put("bootstrap.servers", args[0]);
        props.put("request.timeout.ms", "4000");
        props.put("default.api.timeout.ms", "6000");
        int rc = 0;
        Admin admin = Admin.create(props);
        try {
            int brokers = admin.describeCluster().nodes().get(8, TimeUnit.SECONDS).size();
            int topics = admin.listTopics().names().get(8, TimeUnit.SECONDS).size();
            System.out.println("broker answers: " + brokers + " node(s), " + topics + " topic(s)");
        } catch (Exception e) {
            System.err.println("probe failed: " + e);
            rc = 1;
        } finally {
            admin.close(Duration.ofSeconds(2));
        }
        System.exit(rc);
    }
}
EOF
)"
  if [[ ! -f "$PROBE_SRC" || "$(cat "$PROBE_SRC")" != "$src" ]]; then
    printf '%s\n' "$src" >"$PROBE_SRC"
    rm -rf "$PROBE_CLASSES"
  fi
  if [[ -n "$HAVE_COMPILER" && ! -f "$PROBE_CLASSES/KafkaProbe.class" ]]; then
    javac -nowarn -cp "$LIBS/*" -d "$PROBE_CLASSES" "$PROBE_SRC" || die "javac failed on the probe"
  fi
}

probe() {
  # True when a Kafka broker answers a metadata request at $BOOTSTRAP.
  port_open "$PORT" || return 1
  if [[ -z "$HAVE_COMPILER" ]]; then
    # No javac (JRE only): fall back to "port open and our broker logged that it started".
    grep -q 'Kafka Server started' "$LOGS/server.log" 2>/dev/null
    return
  fi
  java -Xmx128m -XX:TieredStopAtLevel=1 -cp "$PROBE_CLASSES:$LIBS/*" \
    "-Dlog4j2.configurationFile=$TOOLS_LOG4J" KafkaProbe "$BOOTSTRAP" ${CLIENT_CONFIG:+"$CLIENT_CONFIG"} \
    >>"$LOGS/probe.log" 2>&1
}

# ---------------------------------------------------------------------------------- SASL
valid_password() {
  # It is written into JAAS configs (inside "...") and kafka-storage's --add-scram list
  # (`[name=..,password=..]`): no quotes, backslashes, commas, brackets, '=' or blanks.
  [[ ${#1} -ge 12 && "$1" =~ ^[A-Za-z0-9._~+/@%^*:-]+$ ]]
}

resolve_admin_password() {
  # The admin's password: from a file or the environment (production), else one generated
  # once for this run dir (local and tests). Never a default written in this script.
  local source
  if [[ -n "${GRIDFLOW_KAFKA_ADMIN_PASSWORD_FILE:-}" ]]; then
    [[ -r "$GRIDFLOW_KAFKA_ADMIN_PASSWORD_FILE" ]] \
      || die "GRIDFLOW_KAFKA_ADMIN_PASSWORD_FILE=$GRIDFLOW_KAFKA_ADMIN_PASSWORD_FILE is not readable"
    ADMIN_PASSWORD="$(head -n 1 "$GRIDFLOW_KAFKA_ADMIN_PASSWORD_FILE" | tr -d '\r\n')"
    source="GRIDFLOW_KAFKA_ADMIN_PASSWORD_FILE"
  elif [[ -n "${GRIDFLOW_KAFKA_ADMIN_PASSWORD:-}" ]]; then
    ADMIN_PASSWORD="$GRIDFLOW_KAFKA_ADMIN_PASSWORD"
    source="GRIDFLOW_KAFKA_ADMIN_PASSWORD"
  else
    if [[ ! -s "$ADMIN_PASSWORD_FILE" ]]; then
      (umask 077 && head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 \
        >"$ADMIN_PASSWORD_FILE")
      log "generated the admin password of $ADMIN_USER into $ADMIN_PASSWORD_FILE (mode 0600)"
    fi
    ADMIN_PASSWORD="$(cat "$ADMIN_PASSWORD_FILE")"
    source="$ADMIN_PASSWORD_FILE"
  fi
  valid_password "$ADMIN_PASSWORD" || die "the admin password from $source must be 12 or more" \
    "characters of A-Z a-z 0-9 . _ ~ + / @ % ^ * : -"
  [[ "$ADMIN_USER" =~ ^[a-z0-9][a-z0-9._-]*$ ]] || die "bad GRIDFLOW_KAFKA_ADMIN_USER: $ADMIN_USER"
}

write_client_config() {
  # The admin as a Java client (the probe, console tools' --command-config). Mode 0600.
  (umask 077 && cat >"$CLIENT_CONFIG" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$ADMIN_USER" password="$ADMIN_PASSWORD";
EOF
  )
}

sasl_server_config() {
  # Clients: SASL_PLAINTEXT with SCRAM-SHA-512, whose credentials live in the KRaft metadata
  # (the admin's bootstrapped by `format --add-scram`, the rest set by `gridflow acl apply`).
  # Controller listener: SASL PLAIN with the admin as its one static user. SCRAM cannot serve
  # it (its credentials are in the very metadata the controller serves), and PLAINTEXT would
  # make User:ANONYMOUS, i.e. anyone on the machine, a super user of the controller.
  cat <<EOF
listeners=SASL_PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=SASL_PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$ADMIN_USER" password="$ADMIN_PASSWORD";
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="$ADMIN_USER" password="$ADMIN_PASSWORD" user_$ADMIN_USER="$ADMIN_PASSWORD";

# ACLs in the KRaft metadata; nothing is allowed that no ACL grants, but to the super user.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:$ADMIN_USER
EOF
}

open_server_config() {
  cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
}

# ---------------------------------------------------------------------------------- main
mkdir -p "$DATA" "$LOGS"
: >"$LOGS/probe.log"
resolve_jars
write_tool_files
if [[ -n "$SASL" ]]; then
  resolve_admin_password
  write_client_config
fi

if pid_alive && [[ "$(cat "$PORT_FILE" 2>/dev/null)" != "$PORT" ]]; then
  die "the broker of run dir $RUN (pid $(cat "$PID_FILE")) listens on port" \
    "$(cat "$PORT_FILE" 2>/dev/null || echo '?'), not $PORT: stop it first ($STOP)" \
    "or use another GRIDFLOW_RUN_DIR"
fi

if port_open "$PORT"; then
  if probe; then
    if pid_alive; then
      log "the broker of run dir $RUN already answers at $BOOTSTRAP; nothing to do"
    else
      # Not ours: say so, on stderr, rather than attach silently.
      printf '[kafka] WARNING: a Kafka broker not started from run dir %s answers at %s;' \
        "$RUN" "$BOOTSTRAP" >&2
      printf ' using it (set $PORT_VAR to start one of our own)\n' >&2
    fi
    echo "$BOOTSTRAP"
    exit 0
  fi
  pid_alive || die "port $PORT is taken by something that is not a responsive Kafka broker"
fi

if pid_alive; then
  log "broker process $(cat "$PID_FILE") is already running; waiting for it to answer"
else
  rm -f "$PID_FILE"
  if port_open "$CONTROLLER_PORT"; then
    die "controller port $CONTROLLER_PORT is already in use (set $CONTROLLER_VAR)"
  fi

  if [[ -n "$SASL" ]]; then listener_config="$(sasl_server_config)"; else
    listener_config="$(open_server_config)"; fi
  # The SASL broker's config holds the admin's password: readable by its owner alone.
  (umask 077 && cat >"$CONFIG" <<EOF
# Generated by deploy/kafka/start.sh on each start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
$listener_config
log.dirs=$DATA

# Single node: every internal topic has one replica.
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# The project provisions its topics explicitly.
auto.create.topics.enable=false
delete.topic.enable=true
group.initial.rebalance.delay.ms=0

# Small machine.
num.network.threads=2
num.io.threads=4
log.retention.hours=24
EOF
  )

  cat >"$BROKER_LOG4J" <<EOF
status = warn
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $LOGS/server.log
appender.file.filePattern = $LOGS/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 20MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = info
rootLogger.appenderRef.file.ref = FILE
logger.statechange.name = state.change.logger
logger.statechange.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF

  tool_java=(java -Xmx256m -cp "$LIBS/*" "-Dlog4j2.configurationFile=$TOOLS_LOG4J")
  if [[ ! -f "$DATA/meta.properties" ]]; then
    cluster_id="$("${tool_java[@]}" kafka.tools.StorageTool random-uuid)"
    log "formatting storage in $DATA (cluster id $cluster_id)"
    scram=()
    if [[ -n "$SASL" ]]; then
      # The admin's SCRAM credential, in the metadata from the first start (KIP-900).
      scram=(--add-scram "SCRAM-SHA-512=[name=$ADMIN_USER,password=$ADMIN_PASSWORD]")
    fi
    # Its log prints the admin's salted SCRAM keys: owner only, like the config.
    (umask 077 && "${tool_java[@]}" kafka.tools.StorageTool format --ignore-formatted \
      -t "$cluster_id" -c "$CONFIG" "${scram[@]}" >"$LOGS/format.log" 2>&1) \
      || { cat "$LOGS/format.log" >&2; die "kafka-storage format failed"; }
  fi

  log "starting ${SASL:+SASL/SCRAM }broker on $BOOTSTRAP (controller 127.0.0.1:$CONTROLLER_PORT)," \
    "logs in $LOGS"
  # shellcheck disable=SC2086  # HEAP_OPTS is a list of JVM flags
  setsid nohup java $HEAP_OPTS -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
    -Djava.awt.headless=true "-Dkafka.logs.dir=$LOGS" \
    "-Dlog4j2.configurationFile=$BROKER_LOG4J" \
    -cp "$LIBS/*" kafka.Kafka "$CONFIG" \
    </dev/null >"$LOGS/kafka.out" 2>&1 &
  echo $! >"$PID_FILE"
  echo "$PORT" >"$PORT_FILE"
fi

pid="$(cat "$PID_FILE")"
deadline=$((SECONDS + TIMEOUT))
until probe; do
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$PID_FILE"
    echo "----- tail of $LOGS/kafka.out -----" >&2
    tail -n 30 "$LOGS/kafka.out" >&2 || true
    echo "----- tail of $LOGS/server.log -----" >&2
    tail -n 20 "$LOGS/server.log" >&2 || true
    die "the broker process exited during startup"
  fi
  if ((SECONDS >= deadline)); then
    echo "----- tail of $LOGS/server.log -----" >&2
    tail -n 20 "$LOGS/server.log" >&2 || true
    die "the broker did not answer at $BOOTSTRAP within ${TIMEOUT}s (pid $pid still running;" \
      "stop it with $STOP)"
  fi
  sleep 1
done

log "broker is up (pid $pid): $(tail -n 1 "$LOGS/probe.log" 2>/dev/null || true)"
echo "$BOOTSTRAP"
