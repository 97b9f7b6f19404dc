# Sourced by the tool installers (schemathesis.sh, detectors.sh, firecrawl-sdks.sh).
#
# install_once DIR LABEL FUNCTION: runs `FUNCTION DIR` to fill DIR, unless DIR holds a
# finished install. Under a lock beside DIR, so two tests starting at once install once; the
# stamp is written only once FUNCTION has finished, so an install stopped halfway is redone
# from an empty DIR.
install_once() {
  local dir=$1 label=$2 fn=$3
  [ -f "$dir/.installed" ] && return 0
  mkdir -p "$(dirname "$dir")"
  (
    exec 9>"$dir.lock"
    flock 9
    if [ ! -f "$dir/.installed" ]; then
      echo "[$label] installing into $dir" >&2
      rm -rf "$dir"
      mkdir -p "$dir"
      "$fn" "$dir"
      touch "$dir/.installed"
    fi
  )
}

# pip_venv DIR REQUIREMENT: a virtualenv in DIR holding REQUIREMENT (pinned by the caller).
pip_venv() {
  python3 -m venv "$1"
  "$1/bin/pip" install --quiet --disable-pip-version-check "$2" >&2
}
