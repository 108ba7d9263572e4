#!/usr/bin/env bash
# Fetches s3proxy (Apache-2.0; an S3 API over a local directory) and its libraries
# from Maven Central with Maven, for the tests of feed exports, into
# $CRAWLFLEET_CACHE/s3proxy/<version>/lib (default ~/.cache/crawlfleet). Java 17+ runs it.
#
# Prints the library directory on stdout; progress goes to stderr.
set -euo pipefail

VERSION=${CRAWLFLEET_S3PROXY_VERSION:-2.6.0}
CACHE=${CRAWLFLEET_CACHE:-$HOME/.cache/crawlfleet}
LIB="$CACHE/s3proxy/$VERSION/lib"

if [[ -s $LIB/.complete ]]; then
  echo "$LIB"
  exit 0
fi
for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "[s3proxy] $tool is required (Debian: apt-get install default-jdk-headless maven)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>crawlfleet.local</groupId>
  <artifactId>s3proxy-runtime</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.gaul</groupId>
      <artifactId>s3proxy</artifactId>
      <version>$VERSION</version>
    </dependency>
  </dependencies>
</project>
POM
echo "[s3proxy] fetching s3proxy $VERSION and its libraries with Maven" >&2
rm -rf "$LIB"
mkdir -p "$LIB"
mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIB" >&2
echo "$VERSION" > "$LIB/.complete"
echo "$LIB"
