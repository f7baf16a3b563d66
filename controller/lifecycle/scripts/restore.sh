# shellcheck shell=bash
# Restore: before first use of a space in the other region, fill its empty home from
# <backup root>/<profile>/<space>/, once (a marker file in the home records it).

# Names Studio itself may put in a new home; a home holding only these counts as empty.
RESTORE_IGNORE=${STUDIO_OPERATOR_RESTORE_IGNORE:-@@RESTORE_IGNORE@@}

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

restore_main() {
  local marker="$HOME_DIR/$MARKER_NAME" share src leftovers excludes
  resolve_names
  if [[ -e "$marker" || -L "$marker" ]]; then
    log "home already restored ($(tr '\n' ' ' <"$marker")); nothing to do"
    return 0
  fi
  leftovers="$(home_leftovers | tr '\n' ' ')"
  if [[ -n "$leftovers" ]]; then
    log "home $HOME_DIR is not empty (has: $leftovers); not restoring over it"
    return 0
  fi
  if ! share="$(share_root)"; then
    log "file system $FILE_SYSTEM_ID is not mounted under $MOUNT_ROOT/efs; nothing to restore"
    return 0
  fi
  refuse_symlink "$share/$PROFILE_DIR"
  src="$share/$PROFILE_DIR/$SPACE_NAME"
  refuse_symlink "$src"
  if [[ ! -d "$src" || -z "$(ls -A -- "$src")" ]]; then
    log "no backup at $src; nothing to restore"
    return 0
  fi
  excludes="$(mktemp "$STATE_DIR/restore-excludes.XXXXXX")"
  printf '%s\n' "${ALWAYS_EXCLUDED[@]}" >"$excludes"
  copy_tree "$src" "$HOME_DIR" "$excludes"
  rm -f -- "$excludes" "$excludes.rsync" "$excludes.tar"
  printf 'restored_at=%s\nsource=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$src" >"$marker.tmp"
  mv -f -- "$marker.tmp" "$marker"
  log "restored $HOME_DIR from $src"
}
