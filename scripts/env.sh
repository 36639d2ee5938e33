# shellcheck shell=bash
# Environment for running the traffic plugin from this checkout.
# Usage (bash or zsh, from any directory):   source scripts/env.sh
#   TRAFFIC_PROFILE=debug source scripts/env.sh   # use target/debug instead
# Sourced file: no `set -e`/`exit`, and only _traffic_* helper variables,
# which are unset at the end.

# Locate this file: BASH_SOURCE in bash; %x prompt expansion in zsh (in eval
# so bash never has to parse zsh-only syntax).
if [ -n "${BASH_VERSION:-}" ]; then
    _traffic_src="${BASH_SOURCE[0]}"
elif [ -n "${ZSH_VERSION:-}" ]; then
    eval '_traffic_src="${(%):-%x}"'
else
    _traffic_src="$0"
fi
_traffic_root="$(cd "$(dirname "$_traffic_src")/.." && pwd)"

# The plugin loads the ONNX Runtime library from this folder too (`ORT_DYLIB_PATH` overrides
# it); its file name is known in one place, traffic-vision's `runtime::ORT_LIBRARY`.
export TRAFFIC_WEIGHTS_DIR="$_traffic_root/weights"

case "${TRAFFIC_PROFILE:-release}" in
    debug) _traffic_plugin_dir="$_traffic_root/target/debug";   _traffic_build="cargo build" ;;
    *)     _traffic_plugin_dir="$_traffic_root/target/release"; _traffic_build="cargo build --release" ;;
esac

# Drop this checkout's release/debug dirs first, so re-sourcing (or switching
# profile) does not pile up entries or leave the other profile in front.
_traffic_p=":${GST_PLUGIN_PATH:-}:"
for _traffic_d in "$_traffic_root/target/release" "$_traffic_root/target/debug"; do
    while :; do
        _traffic_q="${_traffic_p//":$_traffic_d:"/:}"
        [ "$_traffic_q" = "$_traffic_p" ] && break
        _traffic_p="$_traffic_q"
    done
done
_traffic_p="${_traffic_p#:}"
_traffic_p="${_traffic_p%:}"
export GST_PLUGIN_PATH="$_traffic_plugin_dir${_traffic_p:+:$_traffic_p}"

compgen -G "$TRAFFIC_WEIGHTS_DIR/libonnxruntime.so.*" >/dev/null \
    || echo "env.sh: the ONNX Runtime library is missing from $TRAFFIC_WEIGHTS_DIR; run scripts/setup.sh" >&2
[ -f "$_traffic_plugin_dir/libgsttraffic.so" ] \
    || echo "env.sh: $_traffic_plugin_dir/libgsttraffic.so not built yet ($_traffic_build)" >&2

unset _traffic_src _traffic_root _traffic_plugin_dir _traffic_build _traffic_p _traffic_q _traffic_d
