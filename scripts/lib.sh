# Shared helpers for the project's scripts. Source it; do not run it.

say() { printf '%s\n' "seif scripts: $*" >&2; }

apt_install() {
  # Installs Debian packages if any of them is missing.
  local missing=()
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} (apt-get)"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_test_tools() {
  apt_install libclang-dev pkg-config libssl-dev gnupg age python3-pip
  if ! python3 -c 'import nacl' 2>/dev/null; then
    say "installing PyNaCl (pip)"
    python3 -m pip install -q --disable-pip-version-check pynacl 2>/dev/null \
      || python3 -m pip install -q --disable-pip-version-check --break-system-packages pynacl
  fi
}
