# shellcheck shell=bash
# Restore: before first use of a space in the other region, fill its empty home from
# <backup root>/<profile>/<space>/, once (a marker file in the home records it).
#
# Studio fails an app start whose lifecycle script runs over 5 minutes, and a large home
# takes longer to copy. So the script only checks and starts: the copy runs in the
# background into <home>/.studio-operator-restore/tree, then each entry is renamed into
# place. The phase (copying, then moving) is written in that folder before each starts,
# so an app restart in the middle resumes the restore instead of finding a half-filled
# home it would refuse to restore over; the backup loop waits until it is done.

# Names Studio itself may put in a new home; a home holding only these counts as empty,
# and the backup's copy of them replaces Studio's.
RESTORE_IGNORE=${STUDIO_OPERATOR_RESTORE_IGNORE:-@@RESTORE_IGNORE@@}
# 1: restore in the foreground and return when done (for tests and manual runs).
RESTORE_FOREGROUND=${STUDIO_OPERATOR_FOREGROUND:-0}
STAGING="$HOME_DIR/$STAGING_NAME"
PHASE_FILE="$STAGING/phase"

home_leftovers() {
  local entry name ignored
  read -r -a ignored <<<"$RESTORE_IGNORE"
  shopt -s nullglob dotglob
  for entry in "$HOME_DIR"/*; do
    name=${entry##*/}
    if [[ " ${ignored[*]} ${ALWAYS_EXCLUDED[*]} " != *" $name "* ]]; then
      printf '%s\n' "$name"
    fi
  done
  shopt -u nullglob dotglob
}

# Enters the space's backup folder, checking every folder on the way (enter_checked).
# Returns 1 when there is no backup (not mounted, missing or empty).
enter_backup_source() {
  local shown
  enter_backup_root || return 1
  shown="$(share_root)/$PROFILE_DIR"
  enter_checked "$PROFILE_DIR" user "$shown" || return 1
  enter_checked "$SPACE_NAME" user "$shown/$SPACE_NAME" || return 1
  [[ -n "$(ls -A .)" ]] || return 1
}

set_phase() {
  printf 'phase=%s\nsource=%s\nsince=%s\n' "$1" "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    >"$PHASE_FILE.new"
  mv -f -T -- "$PHASE_FILE.new" "$PHASE_FILE"
}

# Moves what tree/<$1> holds into <home>/<$1>, entry by entry (renames in one file
# system). Where the home has an entry of the same name: folders are merged; inside
# what Studio itself makes ($2 = 1) the backup's copy wins; anywhere else the user made
# it while the restore ran, so it is kept and the backup's copy is set aside in
# conflicts/. Entries already moved are gone from tree/, so a rerun resumes.
move_into_place() {
  local rel="$1" studio="$2" entry name from to inside entries=() ignored=()
  read -r -a ignored <<<"$RESTORE_IGNORE"
  shopt -s nullglob dotglob
  entries=("$STAGING/tree${rel:+/$rel}"/*)
  shopt -u nullglob dotglob
  for entry in "${entries[@]}"; do
    name=${entry##*/}
    from="$entry"
    to="$HOME_DIR${rel:+/$rel}/$name"
    inside=$studio
    if [[ -z "$rel" && " ${ignored[*]} " == *" $name "* ]]; then inside=1; fi
    if [[ ! -e "$to" && ! -L "$to" ]]; then
      mv -T -- "$from" "$to"
    elif [[ -d "$from" && ! -L "$from" && -d "$to" && ! -L "$to" ]]; then
      move_into_place "${rel:+$rel/}$name" "$inside"
      rmdir -- "$from" 2>/dev/null || true
    elif [[ "$inside" == 1 && ! ( -d "$to" && ! -L "$to" ) ]]; then
      mv -f -T -- "$from" "$to"
    else
      mkdir -p -- "$STAGING/conflicts${rel:+/$rel}"
      mv -T -- "$from" "$STAGING/conflicts${rel:+/$rel}/$name"
      log "kept ${rel:+$rel/}$name, made meanwhile; the backup's copy is in $STAGING/conflicts"
    fi
  done
}

# Copies (phase copying) then moves into place (phase moving), then writes the marker.
restore_worker() {
  local src="$1" status=0 excludes
  if command -v flock >/dev/null 2>&1; then
    exec 8>>"$STATE_DIR/restore.lock"
    if ! flock -n 8; then
      log "another restore into $HOME_DIR is running; leaving it to finish"
      return 0
    fi
  fi
  if grep -qx 'phase=copying' "$PHASE_FILE"; then
    # The source is entered and checked in this subshell; the copy reads from there.
    (
      enter_backup_source || exit 1
      excludes="$(mktemp "$STATE_DIR/restore-excludes.XXXXXX")" || exit 1
      printf '%s\n' "${ALWAYS_EXCLUDED[@]}" >"$excludes"
      copy_cwd_into "$STAGING/tree" "$excludes" || status=$?
      rm -f -- "$excludes" "$excludes.rsync" "$excludes.tar"
      exit "$status"
    ) || status=$?
    if [[ "$status" == 2 ]]; then exit 2; fi
    if [[ "$status" != 0 ]]; then
      log "copying $src failed (status $status); the next app start resumes the restore"
      return 1
    fi
    set_phase moving "$src"
  fi
  move_into_place "" 0
  rmdir -- "$STAGING/tree" 2>/dev/null || true
  printf 'restored_at=%s\nsource=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$src" \
    >"$HOME_DIR/$MARKER_NAME.tmp"
  mv -f -T -- "$HOME_DIR/$MARKER_NAME.tmp" "$HOME_DIR/$MARKER_NAME"
  rm -f -- "$PHASE_FILE"
  # It stays while conflicts/ holds something.
  rmdir -- "$STAGING" 2>/dev/null || true
  log "restored $HOME_DIR from $src"
}

restore_main() {
  local marker="$HOME_DIR/$MARKER_NAME" src leftovers status=0 pid
  resolve_names
  if [[ -e "$marker" || -L "$marker" ]]; then
    log "home already restored ($(tr '\n' ' ' <"$marker")); nothing to do"
    # A run killed after writing the marker, before removing this.
    rm -f -- "$PHASE_FILE"
    return 0
  fi
  if restore_pending; then
    log "resuming the restore that was interrupted ($(tr '\n' ' ' <"$PHASE_FILE"))"
  else
    leftovers="$(home_leftovers | tr '\n' ' ')"
    if [[ -n "$leftovers" ]]; then
      log "home $HOME_DIR is not empty (has: $leftovers); not restoring over it"
      return 0
    fi
  fi
  if ! src="$(share_root)"; then
    log "file system $FILE_SYSTEM_ID is not mounted under $MOUNT_ROOT/efs; nothing to restore"
    return 0
  fi
  src="$src/$PROFILE_DIR/$SPACE_NAME"
  # Checked here too, so that an unsafe backup folder fails the app start visibly.
  (enter_backup_source) || status=$?
  if [[ "$status" == 2 ]]; then exit 2; fi
  if [[ "$status" != 0 ]]; then
    log "no backup at $src; nothing to restore"
    return 0
  fi
  if ! restore_pending; then
    mkdir -p -- "$STAGING/tree"
    set_phase copying "$src"
  fi
  if [[ "$RESTORE_FOREGROUND" == 1 ]]; then
    restore_worker "$src"
    return 0
  fi
  # Own process group (set -m), HUP ignored: survives the end of the lifecycle script.
  set -m
  (
    trap '' HUP
    IN_BACKGROUND=1
    restore_worker "$src"
  ) </dev/null >>"$LOG_FILE" 2>&1 &
  pid=$!
  set +m
  disown "$pid" 2>/dev/null || true
  printf '%s\n' "$pid" >"$STATE_DIR/restore.pid"
  log "restoring $HOME_DIR from $src in the background (pid $pid, log $LOG_FILE)"
}
