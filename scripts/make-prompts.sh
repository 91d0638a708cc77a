#!/usr/bin/env bash
# Regenerate Holdfast's shipped prompts from their text:
#   prompts/<lang>/prompts.txt  ("name: text" lines, "# voice: <espeak-ng voice>" optional)
#   -> prompts/<lang>/<name>.ulaw  (raw G.711 mu-law, 8 kHz mono: what Asterisk plays to
#      ulaw endpoints without transcoding)
# Usage: scripts/make-prompts.sh [lang ...]   (default: every folder under prompts/)
# Output is deterministic (no dither), so regenerating unchanged text gives identical files.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
speed="${PROMPT_SPEED:-150}"

if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "make-prompts: needs espeak-ng and sox; run: sudo apt-get install espeak-ng sox" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox >/dev/null
fi

langs=("$@")
if [ ${#langs[@]} -eq 0 ]; then
  for d in "$root"/prompts/*/; do [ -f "$d/prompts.txt" ] && langs+=("$(basename "$d")"); done
fi

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
for lang in "${langs[@]}"; do
  dir="$root/prompts/$lang"
  text_file="$dir/prompts.txt"
  [ -f "$text_file" ] || { echo "make-prompts: $text_file not found" >&2; exit 1; }
  voice="$(sed -n 's/^# *voice: *//p' "$text_file" | head -n1)"
  voice="${voice:-$lang}"
  rm -f "$dir"/*.ulaw
  n=0
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    name="${line%%:*}"; text="${line#*:}"; text="${text# }"
    [[ "$name" =~ ^[a-z0-9_]+$ ]] || { echo "make-prompts: bad prompt name '$name' in $text_file" >&2; exit 1; }
    espeak-ng -v "$voice" -s "$speed" -w "$tmp/$name.wav" "$text"
    # Telephone band, normalised, leading/trailing silence trimmed, a short pause kept at the end
    # so that "position" + digits + "position_tail" do not run together.
    sox -V1 -D "$tmp/$name.wav" -r 8000 -c 1 -t ul "$dir/$name.ulaw" \
      highpass 200 lowpass 3400 \
      silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse \
      norm -3 pad 0 0.12
    n=$((n + 1))
  done < "$text_file"
  echo "make-prompts: $lang: $n prompts, $(du -ch "$dir"/*.ulaw | tail -n1 | cut -f1) in $dir"
done
