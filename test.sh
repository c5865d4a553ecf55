#!/usr/bin/env bash
# Runs every test of the workspace, installing what the tests need first.
# Needs: a Rust toolchain, Python 3, root or sudo for apt-get (kcat, chromium, prometheus, npm;
# Java and Maven if missing), network access to the registries (crates, Maven Central, PyPI,
# npm, Debian); rustup's nightly toolchain for the fuzz targets (installed when missing).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v kcat >/dev/null 2>&1; then
  echo "== installing kcat (Debian package)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat
fi

# The live view's tests: a browser (driven by playwright-core from npm) and Prometheus with
# promtool. Debian's prometheus package may start its own server on :9090; the test's runs on a
# free port of its own. Only what is missing is installed: Debian's npm conflicts with a
# Node.js that brings its own npm (NodeSource's nodejs package), and apt then installs nothing.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
{ command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; } \
  || missing+=(prometheus)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]} (Debian packages)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
echo "== installing playwright-core from npm (itests/browser/package-lock.json)"
(cd itests/browser && npm ci --no-audit --no-fund --silent)

echo "== fetching Apache Kafka's tools from Maven Central (itests/java/pom.xml)"
# javac too: the Streams program runs on the JDK's source launcher, and the Connect test
# compiles a compatibility class (itests/java/README.md).
if ! command -v mvn >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1 \
    || ! command -v javac >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless maven
fi
# A transfer that stalls for two minutes fails (Maven's default read timeout is 30 min) and the
# fetch is tried again, up to three times.
fetch_jars() {
  local try
  for try in 1 2 3; do
    mvn -q -B -Dmaven.wagon.rto=120000 -Daether.connector.requestTimeout=120000 \
      -f "$1" dependency:copy-dependencies && return 0
    echo "== mvn could not fetch $1 (try $try of 3)"
  done
  return 1
}
fetch_jars itests/java/pom.xml
# MirrorMaker 2 with its own Connect runtime and clients (4.3.1: Central serves no 4.4.0
# connect-mirror), apart from the 4.4.0 jars (itests/java/mirror/pom.xml).
fetch_jars itests/java/mirror/pom.xml
# The benchmark's Kafka broker (the quick bench test runs it), here rather than inside the test.
fetch_jars itests/bench/kafka-server/pom.xml

# The TLS and SASL tests: the openssl CLI makes their certificates, and the rdkafka crate's
# librdkafka links OpenSSL (the client side only; the broker uses rustls).
if ! command -v openssl >/dev/null 2>&1 || ! pkg-config --exists openssl 2>/dev/null; then
  echo "== installing openssl, libssl-dev and pkg-config (Debian packages)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl libssl-dev pkg-config
fi

echo "== installing the Python clients into .venv (itests/python/requirements.txt)"
python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r itests/python/requirements.txt

echo "== building the gregor and gregor-lesson binaries the end-to-end tests start"
cargo build -p gregor -p gregor-lesson --bins

echo "== running the tests"
# The benchmark's quick mode against Apache Kafka too, so neither half of the harness rots.
GREGOR_BENCH_KAFKA=1 cargo test --workspace

echo "== fuzzing each cargo-fuzz target for ${GREGOR_CARGO_FUZZ_SECS:-30} s (fuzz/run-bounded)"
fuzz/run-bounded
