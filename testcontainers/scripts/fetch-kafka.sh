#!/usr/bin/env bash
# Fetch Apache Kafka jars from Maven Central with the machine's Maven into
#   ~/.cache/kafkaroo/kafka-<version>/libs        the broker (kafka_2.13 and its runtime dependencies)
#   ~/.cache/kafkaroo/kafka-<version>/tools-libs  kafka-tools + kafka-clients (VerifiableConsumer, console producer...)
# The tools come from the same version when Maven Central has kafka-tools for it, otherwise from the newest
# kafka-tools release below it (kafka-tools 4.4.0 was not published; 4.3.1 tools talk to a 4.4.0 broker).
# Idempotent: a complete cache (marked by .complete) is reused as is. Prints the cache directory.
set -euo pipefail
version="${1:?usage: fetch-kafka.sh <kafka-version>}"
cache="${KAFKAROO_CACHE_DIR:-$HOME/.cache/kafkaroo}"
dest="$cache/kafka-$version"
[ -f "$dest/.complete" ] && { echo "$dest"; exit 0; }
# Concurrent test processes may all find the cache missing: one fetches, the others wait and reuse it.
mkdir -p "$cache"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/.kafka-$version.lock"
  flock 9
  [ -f "$dest/.complete" ] && { echo "$dest"; exit 0; }
fi
central="${KAFKAROO_MAVEN_CENTRAL:-https://repo1.maven.org/maven2}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# log4j2 for 4.x, reload4j for 3.x: the broker and the tools need an slf4j binding to log at all.
log_deps() {
  if [ "${1%%.*}" -ge 4 ]; then
    echo '<dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
          <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>'
  else
    echo '<dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>'
  fi
}

copy_deps() { # dir, out, dependencies-xml
  mkdir -p "$work/$1"
  cat > "$work/$1/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kafkaroo</groupId><artifactId>$1</artifactId><version>1</version>
  <dependencies>$3</dependencies>
</project>
POM
  (cd "$work/$1" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$2" >&2)
}

tools_version=""
for candidate in $version $(curl -fsS -m 30 "$central/org/apache/kafka/kafka-tools/maven-metadata.xml" \
    | grep -o '<version>[^<]*' | sed 's/<version>//' | sort -rV); do
  if [ "$(printf '%s\n%s\n' "$candidate" "$version" | sort -V | tail -1)" = "$version" ] \
     && [ "${candidate%%.*}" = "${version%%.*}" ] \
     && curl -fsS -o /dev/null -m 30 "$central/org/apache/kafka/kafka-tools/$candidate/kafka-tools-$candidate.pom"; then
    tools_version=$candidate; break
  fi
done
[ -n "$tools_version" ] || { echo "no kafka-tools release found for $version" >&2; exit 1; }

rm -rf "$dest"; mkdir -p "$dest"
copy_deps broker "$dest/libs" "<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$version</version></dependency>$(log_deps "$version")"
copy_deps tools "$dest/tools-libs" "<dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$tools_version</version></dependency>
  <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-clients</artifactId><version>$tools_version</version></dependency>$(log_deps "$tools_version")"
echo "$tools_version" > "$dest/tools-version"
touch "$dest/.complete"
echo "$dest"
