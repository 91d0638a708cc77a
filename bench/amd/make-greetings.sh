#!/usr/bin/env bash
# Regenerate the synthetic greetings of the answering-machine detection bench:
#   bench/amd/greetings.txt -> bench/amd/greetings/<name>.ulaw (raw G.711 mu-law, 8 kHz mono)
# plus <name>_noise.ulaw variants (a line hiss at -50 dBFS under the same greeting) for the names in
# NOISE, and tail_noise.ulaw (10 s of that hiss alone, played after a noisy greeting so the line does not
# fall silent), and tail_silence.ulaw (10 s of silence, after the others: a line sends RTP all along).
# The files are committed: the bench and the tests do not need espeak-ng or sox.
# Output is deterministic (no dither, repeatable noise), like scripts/make-prompts.sh.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="$here/greetings"
NOISE="person_hello person_yes_hello person_anna person_hello_hello person_peter person_who
       machine_voicemail_of machine_anna_peter machine_mark machine_short_sara machine_not_here machine_text_me"
HISS="-50dB"

if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "make-greetings: needs espeak-ng and sox; run: sudo apt-get install espeak-ng sox" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox >/dev/null
fi

tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"; rm -f "$out"/*.ulaw
fmt=(-r 8000 -c 1 -b 16 -e signed-integer)

sox() { command sox -D -R "$@"; }  # no dither, repeatable noise: the same text gives the same bytes
trim() { local s="$1"; s="${s#"${s%%[![:space:]]*}"}"; printf '%s' "${s%"${s##*[![:space:]]}"}"; }
silence() { sox -n "${fmt[@]}" "$2" trim 0 "$1"; }

speak() {  # speak <voice> <speed> <text> <out.wav>: telephone band, trimmed, normalised
  espeak-ng -v "$1" -s "$2" -w "$tmp/raw.wav" "$3"
  sox -V1 -D "$tmp/raw.wav" "${fmt[@]}" "$4" highpass 200 lowpass 3400 \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse norm -6
}

n=0
while IFS='|' read -r name voice speed lead text || [ -n "$name" ]; do
  name="$(trim "$name")"
  case "$name" in ''|'#'*) continue ;; esac
  voice="$(trim "$voice")"; speed="$(trim "$speed")"; lead="$(trim "$lead")"
  parts=("$tmp/lead.wav"); silence "$lead" "$tmp/lead.wav"
  i=0
  # split the text at [pause] and [beep] marks
  rest="$text"
  while [ -n "$(trim "$rest")" ]; do
    i=$((i + 1)); seg="$tmp/seg$i.wav"
    if [[ "$rest" =~ ^[[:space:]]*\[([0-9.]+)\](.*)$ ]]; then
      silence "${BASH_REMATCH[1]}" "$seg"; rest="${BASH_REMATCH[2]}"
    elif [[ "$rest" =~ ^[[:space:]]*\[beep\](.*)$ ]]; then
      silence 0.4 "$tmp/pre$i.wav"
      sox -n "${fmt[@]}" "$tmp/tone$i.wav" synth 0.5 sine 1000 vol -8dB
      sox "$tmp/pre$i.wav" "$tmp/tone$i.wav" "$seg"; rest="${BASH_REMATCH[1]}"
    else
      words="${rest%%[*}"; rest="${rest:${#words}}"
      speak "$voice" "$speed" "$(trim "$words")" "$seg"
    fi
    parts+=("$seg")
  done
  silence 0.3 "$tmp/trail.wav"; parts+=("$tmp/trail.wav")
  sox "${parts[@]}" "$tmp/$name.wav"
  sox -V1 -D "$tmp/$name.wav" -e u-law -b 8 -t ul "$out/$name.ulaw"
  n=$((n + 1))
  if [[ " $(echo $NOISE) " == *" $name "* ]]; then
    len="$(soxi -D "$tmp/$name.wav")"
    sox -R -n "${fmt[@]}" "$tmp/hiss.wav" synth "$len" pinknoise vol "$HISS"
    sox -V1 -D -m "$tmp/$name.wav" "$tmp/hiss.wav" -e u-law -b 8 -t ul "$out/${name}_noise.ulaw"
    n=$((n + 1))
  fi
done < "$here/greetings.txt"
sox -n -r 8000 -c 1 -e u-law -b 8 -t ul "$out/tail_noise.ulaw" synth 10 pinknoise vol "$HISS"
sox -n -r 8000 -c 1 -e u-law -b 8 -t ul "$out/tail_silence.ulaw" trim 0 10
echo "make-greetings: $n greetings, $(du -ch "$out"/*.ulaw | tail -n1 | cut -f1) in $out"
