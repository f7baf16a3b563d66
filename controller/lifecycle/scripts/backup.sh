# shellcheck shell=bash
# Backup: copy the space's EBS home to <backup root>/<profile>/<space>/ on the custom
# EFS, in the background so the app start is not delayed, then again every INTERVAL.

INTERVAL=${STUDIO_OPERATOR_INTERVAL_SECONDS:-@@INTERVAL_SECONDS@@}
# 1: one pass in the foreground, then return (for tests and manual runs).
FOREGROUND=${STUDIO_OPERATOR_FOREGROUND:-0}

backup_pass() {
  local share shown excludes
  if ! share="$(share_root)"; then
    log "file system $FILE_SYSTEM_ID is not mounted under $MOUNT_ROOT/efs; skipping this pass"
    return 0
  fi
  if restore_pending; then
    # The home is not what the user had yet: backing it up now would overwrite the
    # backup the restore is reading with Studio's fresh defaults.
    log "a restore into $HOME_DIR is still in progress; skipping this pass"
    return 0
  fi
  # In a subshell: the folders are entered (and checked) one by one, and the copy runs
  # inside the last one, so a folder swapped in on the way is never written to.
  (
    if ! enter_backup_root; then
      log "backup root $share does not exist; skipping this pass"
      exit 0
    fi
    shown="$share/$PROFILE_DIR"
    if [[ ! -e "$PROFILE_DIR" && ! -L "$PROFILE_DIR" ]] && ! mkdir -- "$PROFILE_DIR"; then
      log "no backup folder $shown (the operator makes it for each profile); skipping this pass"
      exit 0
    fi
    enter_checked "$PROFILE_DIR" user "$shown" || die "$shown is not a folder"
    shown="$shown/$SPACE_NAME"
    if [[ ! -e "$SPACE_NAME" && ! -L "$SPACE_NAME" ]]; then
      mkdir -- "$SPACE_NAME"
    fi
    enter_checked "$SPACE_NAME" user "$shown" || die "$shown is not a folder"
    excludes="$(mktemp "$STATE_DIR/backup-excludes.XXXXXX")"
    excluded_paths | sort -u >"$excludes"
    copy_into_cwd "$HOME_DIR" "$excludes"
    rm -f -- "$excludes" "$excludes.rsync" "$excludes.tar"
    log "backed up $HOME_DIR to $shown"
  )
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
