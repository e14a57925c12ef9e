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
  # time: GNU time measures seal's and open's memory (tests/seal_open.rs);
  # iproute2: the air-gap test's interface; binutils: readelf, for what the
  # ceremony binary links (tests/ceremony.rs); util-linux: tests/runbooks.rs
  # runs each ceremony step offline in its own namespace (unshare -rnm);
  # softhsm2, opensc: card custodians are tested against SoftHSM2 tokens made
  # like ID cards (scripts/softhsm-token), with OpenSC's pkcs11-tool as a
  # second, independent card side.
  apt_install libclang-dev pkg-config libssl-dev gnupg age python3-pip time iproute2 binutils util-linux softhsm2 opensc
  if ! python3 -c 'import nacl' 2>/dev/null; then
    say "installing PyNaCl (pip)"
    python3 -m pip install -q --disable-pip-version-check pynacl 2>/dev/null \
      || python3 -m pip install -q --disable-pip-version-check --break-system-packages pynacl
  fi
  # tests/spec/pq_unwrap.py: ML-KEM-768 (and X25519, ChaCha20-Poly1305), and
  # tests/spec/restore.py: ML-DSA-65 (hybrid record signatures), from
  # pyca/cryptography; 48.0 has ML-KEM (earlier releases may not).
  if ! python3 -c 'from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey; from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA65PublicKey' 2>/dev/null; then
    say "installing cryptography >= 48 (pip), for ML-KEM"
    python3 -m pip install -q --disable-pip-version-check 'cryptography>=48' 2>/dev/null \
      || python3 -m pip install -q --disable-pip-version-check --break-system-packages 'cryptography>=48'
  fi
}

start_garage() {
  # Starts (or reuses) the three-node Garage cluster of scripts/garage and
  # exports its endpoint, bucket and key (SEIF_TEST_S3_*, AWS_*) into the
  # calling shell, for the S3 half of the store suite. Installs Garage first
  # if it is missing (~25 min, once per machine).
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  "$root/scripts/garage" start || return 1
  # shellcheck source=/dev/null
  . "$root/target/garage-cluster/env.sh" || return 1
}
