# Helpers the scripts share (sourced; the caller defines `log MESSAGE...`).

# apt-get install PACKAGE...: quietly, with one `apt-get update` per run, waiting for another
# apt run's lock rather than failing on it.
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "$@" >/dev/null
}

# install_commands COMMAND:PACKAGE...: installs the packages of the commands not found (on
# the PATH or in /usr/sbin and /sbin), each package once.
install_commands() {
  local pair cmd missing=()
  for pair in "$@"; do
    cmd=${pair%%:*}
    command -v "$cmd" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null 2>&1 \
      || missing+=("${pair#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    # shellcheck disable=SC2046
    apt_install $(printf '%s\n' "${missing[@]}" | sort -u)
  fi
}

# timed LABEL COMMAND...: runs it, then logs and records (in TIMES) how long it took. Under
# errexit a failure ends the script here; where errexit is off (an `if`), its status is
# returned.
timed() {
  local label=$1 t0 secs rc
  shift
  t0=$(date +%s.%N)
  "$@"
  rc=$?
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  log "$label: ${secs}s"
  TIMES+=("$label: ${secs}s")
  return "$rc"
}
