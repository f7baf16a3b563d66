# shellcheck shell=bash
# Logging shared by the Studio space scripts (controller/lifecycle) and the notebook
# instance scripts (controller/notebooks): each renderer puts this file after its own
# common.sh, which sets LOG_TAG, LOG_FILE and IN_BACKGROUND. A background worker's
# output already goes to the log file, so it does not write each line twice.

log() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) $LOG_TAG: $*"
  printf '%s\n' "$line" >&2
  # shellcheck disable=SC2031 # set to 1 only in a background worker's subshell, on purpose
  if [[ "$IN_BACKGROUND" == 0 ]]; then
    printf '%s\n' "$line" >>"$LOG_FILE" 2>/dev/null || true
  fi
}

die() {
  log "refusing to run: $*"
  exit 2
}
