#!/usr/bin/env bash
# Fetches the Apache Kafka broker jars from Maven Central into the cache:
#   ${HOMEFEED_CACHE:-$HOME/.cache/homefeed}/kafka-<version>/libs/
# The version lives only in pom.xml (kafka.version). Idempotent: a marker
# holding the pom's hash makes later runs a silent no-op, and a change to the
# pom fetches again. Prints the libs folder on stdout (the only output on
# success) so callers need not re-derive the path.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pom="$here/pom.xml"
cache="${HOMEFEED_CACHE:-$HOME/.cache/homefeed}"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom" | head -n1)"
if [ -z "$version" ]; then
  echo "fetch.sh: no <kafka.version> in $pom" >&2
  exit 1
fi
home="$cache/kafka-$version"
libs="$home/libs"
marker="$home/.complete"
want="$(sha256sum "$pom" | cut -c1-16)"

if [ "$(cat "$marker" 2>/dev/null)" = "$want" ]; then
  echo "$libs"
  exit 0
fi

mkdir -p "$home"
# Serialise concurrent fetches (a test run and `homefeed broker start` at once).
exec 9>"$home/.lock"
flock 9
if [ "$(cat "$marker" 2>/dev/null)" = "$want" ]; then
  echo "$libs"
  exit 0
fi

# Copy into a scratch folder and swap it in, so an interrupted fetch never
# leaves a half-filled libs/ that looks usable.
staging="$home/libs.partial"
rm -rf "$staging"
echo "fetch.sh: fetching Kafka $version jars from Maven Central into $libs" >&2
# Maven 3.8 prints stray ANSI resets even with -q, so its output is kept
# aside and shown only when it fails.
mvn_log="$home/fetch.log"
if ! mvn -q -B -f "$pom" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$staging" >"$mvn_log" 2>&1; then
  cat "$mvn_log" >&2
  echo "fetch.sh: Maven failed (log: $mvn_log)" >&2
  exit 1
fi
if ! ls "$staging"/kafka_2.13-"$version".jar >/dev/null 2>&1; then
  echo "fetch.sh: Maven finished but kafka_2.13-$version.jar is missing" >&2
  exit 1
fi
rm -rf "$libs"
mv "$staging" "$libs"
echo "$want" > "$marker"
echo "$libs"
