# shellcheck shell=bash
# On every start (OnStart, which SageMaker also runs when it creates the instance): in
# the background, first the restore the instance's tags ask for (once), then a snapshot.
# The script itself returns within seconds, far inside the 5-minute limit.

start_worker() {
  if ! restore_if_named; then
    log "the restore failed; no snapshot is taken of a volume it did not fill"
    exit 1
  fi
  backup_worker
}

notebook_start_main() {
  prepare_state
  require_tools
  if [[ "$FOREGROUND" == 1 ]]; then
    start_worker
    return 0
  fi
  in_background start start_worker
}
