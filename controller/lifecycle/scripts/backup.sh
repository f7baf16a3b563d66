# shellcheck shell=bash
# Backup: copy the space's EBS home to <backup root>/<profile>/<space>/ on the custom
# EFS, in the background so the app start is not delayed, then again every INTERVAL.

INTERVAL=${STUDIO_OPERATOR_INTERVAL_SECONDS:-@@INTERVAL_SECONDS@@}
# 1: one pass in the foreground, then return (for tests and manual runs).
FOREGROUND=${STUDIO_OPERATOR_FOREGROUND:-0}

backup_pass() {
  local share dest excludes
  if ! share="$(share_root)"; then
    log "file system $FILE_SYSTEM_ID is not mounted under $MOUNT_ROOT/efs; skipping this pass"
    return 0
  fi
  if [[ ! -d "$share" ]]; then
    log "backup root $share does not exist; skipping this pass"
    return 0
  fi
  refuse_symlink "$share/$PROFILE_DIR"
  dest="$share/$PROFILE_DIR/$SPACE_NAME"
  refuse_symlink "$dest"
  mkdir -p -- "$dest"
  excludes="$(mktemp "$STATE_DIR/backup-excludes.XXXXXX")"
  excluded_paths | sort -u >"$excludes"
  copy_tree "$HOME_DIR" "$dest" "$excludes"
  rm -f -- "$excludes" "$excludes.rsync" "$excludes.tar"
  log "backed up $HOME_DIR to $dest"
}

# One pass at a time, across loops too (a second app start, a manual run).
locked_backup_pass() {
  if command -v flock >/dev/null 2>&1; then
    exec 9>>"$STATE_DIR/backup.lock"
    if ! flock -n 9; then
      log "another backup pass is running; skipping this one"
      return 0
    fi
  fi
  backup_pass
}

backup_loop() {
  while true; do
    # Each pass runs as its own job so that `set -e` holds inside it.
    locked_backup_pass &
    if ! wait "$!"; then
      log "backup pass failed; retrying in ${INTERVAL}s"
    fi
    sleep "$INTERVAL"
  done
}

backup_main() {
  resolve_names
  [[ "$INTERVAL" =~ ^[1-9][0-9]*$ ]] || die "interval '$INTERVAL' is not a positive integer"
  if [[ "$FOREGROUND" == 1 ]]; then
    locked_backup_pass
    return 0
  fi
  # Own process group (set -m), HUP ignored: survives the end of the lifecycle script.
  set -m
  (
    trap '' HUP
    IN_BACKGROUND=1
    backup_loop
  ) </dev/null >>"$LOG_FILE" 2>&1 &
  local pid=$!
  set +m
  disown "$pid" 2>/dev/null || true
  printf '%s\n' "$pid" >"$STATE_DIR/backup.pid"
  log "backup loop started (pid $pid, every ${INTERVAL}s, log $LOG_FILE)"
}
