#!/usr/bin/env bash
# Install the Debian packages whose files the real-text benchmark corpus is built from.
# Idempotent: checks each package with dpkg first, so it is fast (no apt) once all are present.
# Needs root (or sudo) only when something is missing. Nothing is installed at benchmark run time.
set -euo pipefail

PACKAGES=(
  manpages manpages-zh manpages-de manpages-fr   # man pages: en, zh, and de/fr as wrong-language junk
  manpages-dev                                   # sections 2 and 3 in English (the fine-tuning task set)
  linux-doc python3-doc                          # kernel .rst docs, Python HTML docs
  fortunes fortunes-zh                           # fortune cookies, en and zh
  debian-reference-en debian-reference-zh-cn     # Debian Reference HTML, en and zh
  groff-base man-db                              # man page rendering
  wamerican                                      # /usr/share/dict/words (junk-wordlist)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "bench/realtext/setup.sh: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "bench/realtext/setup.sh: installing ${missing[*]}"
# Debian's docker images exclude /usr/share/{man,doc} via dpkg path-exclude rules; the corpus
# needs those files, so warn when such a rule would silently drop them.
if grep -qs 'path-exclude=/usr/share/\(man\|doc\)' /etc/dpkg/dpkg.cfg.d/* 2>/dev/null; then
  echo "warning: /etc/dpkg/dpkg.cfg.d excludes /usr/share/man or /usr/share/doc; the corpus will be empty" >&2
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
