#!/usr/bin/env bash
# Bounded load test of the authenticated API on loopback while live ingest
# runs (issue 7): `kuzet serve` analyses a looped clip in real time (events
# keep arriving), and Debian `wrk` drives
#   1. GET /api/events?limit=50 with an API token, then
#   2. a mix: 1 in 4 requests GET /api/events?limit=50, 3 in 4 GET
#      /api/events/{id} over ids that exist,
# each for $DURATION with $CONNS connections on $THREADS threads, and prints
# wrk's latency distribution (p50/p90/p99), requests/s and errors (non-2xx
# and socket errors). Run by hand (not in CI):
#
#   scripts/loadtest.sh                 # needs a release build of kuzet
#   DURATION=30s CONNS=32 scripts/loadtest.sh
#
# Env: KUZET (binary; default $CARGO_TARGET_DIR or ./target /release/kuzet),
# KUZET_DATA, KUZET_MODELS, ORT_DYLIB_PATH (as for every kuzet run), PORT.
set -euo pipefail

DURATION=${DURATION:-20s}
CONNS=${CONNS:-16}
THREADS=${THREADS:-2}
PORT=${PORT:-18089}
KUZET=${KUZET:-${CARGO_TARGET_DIR:-$(dirname "$0")/../target}/release/kuzet}
: "${KUZET_DATA:?set KUZET_DATA (the development media, see /work/shared)}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
[ -x "$KUZET" ] || { echo "no kuzet binary at $KUZET: cargo build --release -p kuzet" >&2; exit 2; }

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/kuzet.toml" <<EOF
listen = "127.0.0.1:$PORT"
data_dir = "$work/data"

[[camera]]
id = "walkway"
url = "$KUZET_DATA/videos/vtest_pedestrians.mp4"
fps = 5
realtime = true
loop = true

[[camera.line]]
name = "midline"
from = [0.5, 0.0]
to = [0.5, 1.0]
classes = ["person"]

[[camera.zone]]
name = "lawn"
polygon = [[0.0, 0.55], [1.0, 0.55], [1.0, 1.0], [0.0, 1.0]]
classes = ["person"]
EOF

echo "load-test-password" | "$KUZET" user add load --role operator --password-stdin --config "$work/kuzet.toml" >/dev/null
token=$("$KUZET" token create load --user load --config "$work/kuzet.toml" | grep -o 'kzt_[A-Za-z0-9_-]*' | head -1)
[ -n "$token" ] || { echo "could not create an API token" >&2; exit 1; }

"$KUZET" serve --config "$work/kuzet.toml" >"$work/serve.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:$PORT"
for _ in $(seq 1 120); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.5
done
auth=(-H "Authorization: Bearer $token")
# Live ingest must be producing events before and during the run.
for _ in $(seq 1 120); do
  n=$( (curl -fsS "${auth[@]}" "$base/api/events?limit=200" || true) | { grep -o '"id":[0-9]*' || true; } | wc -l)
  [ "$n" -ge 5 ] && break
  sleep 1
done
ids=$(curl -fsS "${auth[@]}" "$base/api/events?limit=200" | { grep -o '"id":[0-9]*' || true; } | cut -d: -f2 | tr '\n' ',' | sed 's/,$//')
[ -n "$ids" ] || { echo "no events after 2 minutes of ingest; see $work/serve.log" >&2; tail -20 "$work/serve.log" >&2; exit 1; }
before=$(echo "$ids" | tr ',' '\n' | wc -l)
echo "events stored before the run: $before (ids for the mix)"

cat > "$work/mix.lua" <<EOF
local ids = {$ids}
local n = 0
request = function()
  n = n + 1
  if n % 4 == 0 then
    return wrk.format("GET", "/api/events?limit=50")
  end
  return wrk.format("GET", "/api/events/" .. ids[math.random(#ids)])
end
EOF

echo
echo "== 1. GET /api/events?limit=50 (token), ${DURATION}, ${CONNS} connections, ${THREADS} threads"
echo "   wrk -t$THREADS -c$CONNS -d$DURATION --latency -H 'Authorization: Bearer …' $base/api/events?limit=50"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${auth[@]}" "$base/api/events?limit=50"

echo
echo "== 2. mix: 1/4 GET /api/events?limit=50, 3/4 GET /api/events/{id}"
echo "   wrk -t$THREADS -c$CONNS -d$DURATION --latency -s mix.lua -H 'Authorization: Bearer …' $base"
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$work/mix.lua" "${auth[@]}" "$base"

after=$(curl -fsS "${auth[@]}" "$base/api/events?limit=1000" | { grep -o '"id":[0-9]*' || true; } | wc -l)
echo
echo "events stored after the runs: $after (live ingest kept running: $((after - before)) new)"
echo "== unauthenticated control: $(curl -s -o /dev/null -w '%{http_code}' "$base/api/events")"
