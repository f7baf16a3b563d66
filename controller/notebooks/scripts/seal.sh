# shellcheck shell=bash
# The seal (a migration's old instance, just before it is deleted): the same work in the
# foreground, while the instance is still Pending and no user can reach it, then a
# failed start on purpose: the instance goes Failed, never InService, so what the
# snapshot holds is all the volume will ever have held. The operator checks that the
# snapshot is complete before it deletes the instance; a seal cut short by the 5-minute
# limit leaves no complete snapshot, and the instance is kept.
notebook_seal_main() {
  prepare_state
  require_tools
  start_worker
  log "sealed: the volume is in snapshot $(cat "$STATE_DIR/last-backup"); this start fails on purpose, so that the instance is not used again before it is deleted"
  return 3  # under set -e the script ends here, with this status
}
