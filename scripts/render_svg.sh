#!/usr/bin/env bash
# render_svg.sh — renders an SVG figure (gfn plot, gfn/runtime/plot.h) to a PNG with headless Chromium.
#
#   scripts/render_svg.sh FIGURE.svg [OUT.png] [WIDTH HEIGHT]
#
# OUT.png defaults to FIGURE.png; the window size defaults to the SVG's own
# width and height attributes. Installs Debian's `chromium` with apt-get when
# no chromium is found (as root, or through sudo), and says so. Prints the PNG's
# path; exits non-zero when no PNG was produced. Not part of `make test`: it
# needs a browser.
set -euo pipefail

usage() { echo "usage: $0 FIGURE.svg [OUT.png] [WIDTH HEIGHT]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 4 && $# -ne 3 ]] || usage
svg=$1
[[ -f $svg ]] || { echo "render_svg: no such file: $svg" >&2; exit 2; }
out=${2:-${svg%.svg}.png}
abs_svg=$(cd "$(dirname "$svg")" && pwd)/$(basename "$svg")
case $out in /*) abs_out=$out ;; *) abs_out=$(pwd)/$out ;; esac
[[ -d $(dirname "$abs_out") ]] || { echo "render_svg: no such directory: $(dirname "$abs_out")" >&2; exit 2; }

# The size: given, or the root element's width="…" height="…" (rounded up).
if [[ $# -eq 4 ]]; then
    width=$3 height=$4
else
    root=$(tr '\n' ' ' < "$svg" | grep -o '<svg[^>]*>' | head -n 1 || true)
    width=$(sed -n 's/.*[[:space:]]width="\([0-9.]*\)".*/\1/p' <<< "$root")
    height=$(sed -n 's/.*[[:space:]]height="\([0-9.]*\)".*/\1/p' <<< "$root")
    [[ -n $width && -n $height ]] || { echo "render_svg: $svg has no numeric width/height; pass WIDTH HEIGHT" >&2; exit 2; }
    width=$(awk -v v="$width" 'BEGIN { printf "%d", (v == int(v)) ? v : int(v) + 1 }')
    height=$(awk -v v="$height" 'BEGIN { printf "%d", (v == int(v)) ? v : int(v) + 1 }')
fi
[[ $width =~ ^[0-9]+$ && $height =~ ^[0-9]+$ ]] || usage
# Headless Chromium paints only the top (height − ~88) pixels of a window lower
# than about 160 px: render short figures in a 200 px window (white below).
if (( height < 200 )); then
    echo "render_svg: height $height < 200: rendering 200 px high (white below the figure)" >&2
    height=200
fi

# The browser: chromium (Debian), else chromium-browser or google-chrome; install chromium if none.
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z $browser ]]; then
    if [[ $(id -u) -eq 0 ]]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
        echo "render_svg: chromium is not installed and this user cannot install it (not root, no sudo)" >&2
        exit 1
    fi
    echo "render_svg: installing chromium with apt-get${sudo:+ (through sudo)}" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >&2
    browser=$(command -v chromium || true)
    [[ -n $browser ]] || { echo "render_svg: chromium did not install" >&2; exit 1; }
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$abs_out"
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" --screenshot="$abs_out" \
    --window-size="$width,$height" "file://$abs_svg" >/dev/null 2>"$profile/chromium.log" || true
if [[ ! -s $abs_out ]]; then
    echo "render_svg: chromium produced no PNG for $svg; its output:" >&2
    grep -v -e dbus -e 'Fontconfig' "$profile/chromium.log" | tail -n 20 >&2 || true
    exit 1
fi
echo "$abs_out"
