#!/usr/bin/env bash
# Soak test (not part of `make test`): the full pipeline over the looped residential video for
# FRAMES frames (default 20000), RSS sampled along the way; fails when the RSS at the end is more
# than 5 % above the RSS after the warm-up. Writes the result into BENCHMARKS.md between the
# soak markers (the Soak section is appended the first time).
#   scripts/soak.sh [FRAMES] [extra arguments of examples/soak.rs, e.g. --encode --warmup 1000]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh
frames="${1:-20000}"
shift || true
video=../shared/data/videos/ahmetozlu_residential_street.mp4
[ -f "$video" ] || { echo "soak: $video not found (the shared data must be beside the checkout)" >&2; exit 1; }
mkdir -p out
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
cargo build --release -p gst-plugin-traffic --example soak
status=0
target/release/examples/soak --frames "$frames" --video "$video" --markdown out/soak.md "$@" | tee out/soak.log \
    || status=$?
[ -s out/soak.md ] || { echo "soak: no result (exit $status)" >&2; exit 1; }

begin='<!-- soak:begin -->'
end='<!-- soak:end -->'
if ! grep -qF "$begin" BENCHMARKS.md; then
    printf '\n## Soak (issue 7)\n\n`scripts/soak.sh [FRAMES]` (`make soak`): RSS of the whole pipeline over a looped video.\n\n%s\n%s\n' \
        "$begin" "$end" >> BENCHMARKS.md
fi
{
    echo "Run of $(date -u +%Y-%m-%d), $(nproc) cores, load average before the run: $load_before."
    echo
    cat out/soak.md
} > out/soak.section.md
# Replace what lies between the markers with the new section.
awk -v begin="$begin" -v end="$end" -v section=out/soak.section.md '
    $0 == begin { print; while ((getline line < section) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip { print }
' BENCHMARKS.md > out/BENCHMARKS.md.new
mv out/BENCHMARKS.md.new BENCHMARKS.md
echo "soak: result written to BENCHMARKS.md (exit $status)"
exit "$status"
