#!/usr/bin/env bash
# Kafka's own console clients, against the local broker: what any channel or department
# does with the stock tools, without Python.
#
#   deploy/kafka/console.sh produce gridflow.reports.channel.web < reports.jsonl   # one JSON a line
#   deploy/kafka/console.sh consume gridflow.assignments.zs.urban --from-beginning
#
# Extra arguments go to the tool (e.g. --max-messages 1, --timeout-ms 10000,
# --property print.key=true). Environment: GRIDFLOW_KAFKA_BOOTSTRAP (default
# 127.0.0.1:$GRIDFLOW_KAFKA_PORT, port 9092), GRIDFLOW_RUN_DIR (default <repo>/.run).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
LIBS="$HERE/target/libs"
RUN="${GRIDFLOW_RUN_DIR:-$REPO/.run}/kafka"
BOOTSTRAP="${GRIDFLOW_KAFKA_BOOTSTRAP:-127.0.0.1:${GRIDFLOW_KAFKA_PORT:-9092}}"

usage() { echo "usage: $0 produce|consume TOPIC [tool options]" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
command="$1" topic="$2"
shift 2

if [[ ! -f "$LIBS/kafka-tools-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml").jar" ]]; then
  mkdir -p "$RUN/logs"
  mvn -B -q -Dstyle.color=never -f "$HERE/pom.xml" package >"$RUN/logs/maven.log" 2>&1
fi
logging=()
if [[ -f "$RUN/log4j2-tools.properties" ]]; then
  logging=("-Dlog4j2.configurationFile=$RUN/log4j2-tools.properties")
fi

case "$command" in
  produce) main=org.apache.kafka.tools.ConsoleProducer ;;
  consume) main=org.apache.kafka.tools.consumer.ConsoleConsumer ;;
  *) usage ;;
esac
exec java "${logging[@]}" -cp "$LIBS/*" "$main" --bootstrap-server "$BOOTSTRAP" --topic "$topic" "$@"
