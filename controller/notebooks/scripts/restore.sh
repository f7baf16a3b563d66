# shellcheck shell=bash
# Restore (on the first start of an instance a migration made): fills the new, empty volume
# from the snapshot its tags name, once. The operator creates the new instance with
#   studio-operator.io/restore-snapshot    <policy>/notebook/<name>/<stamp>
#   studio-operator.io/restore-owner-map   "500:1000" (old:new uid pairs, space separated)
#   studio-operator.io/restore-group-map   "500:1000" (gid pairs; absent: the uid pairs)
# Every part is checked (size and SHA-256 from the manifest) before tar sees its bytes;
# tar extracts into a folder only root can enter, owners are remapped there (so no one
# can swap a folder for a link under the chown), then each entry is moved into place.
# Done: restored/<instance> beside the snapshot in S3, which the operator waits for
# before it stops the old instance, and which later starts find (nothing is added to the
# volume: it holds exactly what the snapshot held).

SNAPSHOT_TAG=studio-operator.io/restore-snapshot
OWNER_MAP_TAG=studio-operator.io/restore-owner-map
GROUP_MAP_TAG=studio-operator.io/restore-group-map
OWNER_MAP_RE='^([0-9]+:[0-9]+( [0-9]+:[0-9]+)*)?$'

# The tag's value; $2 (default empty) when the instance has no such tag.
read_tag() {
  local value
  value=$(aws_sagemaker list-tags --resource-arn "$INSTANCE_ARN" \
    --query "Tags[?Key=='$1'].Value | [0]" --output text)
  [[ "$value" == None ]] && value="${2:-}"
  printf '%s\n' "$value"
}

# The manifest's parts as "number offset size sha256" lines, after checking it is a
# snapshot of this format whose parts add up; its archive key and compression first.
read_manifest() {
  python3 - "$1" "$2" <<'PYTHON'
import hashlib, json, sys
path, wanted = sys.argv[1:]
body = json.load(open(path))
if body.get("format") != "studio-operator-snapshot/v1" or body.get("id") != wanted:
    sys.exit(f"manifest of {body.get('id')!r}, format {body.get('format')!r}: not {wanted}")
parts = body["parts"]
if [p["number"] for p in parts] != list(range(1, len(parts) + 1)):
    sys.exit("parts are not numbered 1..n")
outer = hashlib.sha256()
for part in parts:
    outer.update(bytes.fromhex(part["sha256"]))
if outer.hexdigest() != body["sha256"] or sum(p["size"] for p in parts) != body["bytes_out"]:
    sys.exit("the manifest's parts do not add up to its checksum and size")
print(body["archive_key"], body["compression"])
offset = 0
for part in parts:
    print(part["number"], offset, part["size"], part["sha256"])
    offset += part["size"]
PYTHON
}

# Writes the archive's bytes to stdout, part by part, each checked before it is passed on.
# The object is read in one GET, cut at the manifest's part sizes; a short or long object
# fails the check like a damaged part does.
verified_parts() {
  local number _offset size sha got reader
  mkfifo "$WORK/archive"
  # From the work folder: the staging folder, the current one, may have been renamed.
  (cd -- "$WORK" && aws_cli s3api get-object --bucket "$BUCKET" --key "$ARCHIVE_KEY" \
    "$WORK/archive") >/dev/null 2>"$WORK/get.err" &
  reader=$!
  exec 3<"$WORK/archive"
  while read -r number _offset size sha; do
    head -c "$size" <&3 >"$WORK/part"
    got=$(sha256sum "$WORK/part" | cut -d' ' -f1)
    if [[ "$(stat -c %s "$WORK/part")" != "$size" || "$got" != "$sha" ]]; then
      log "part $number of $ARCHIVE_KEY is not what the manifest says (damaged or altered)"
      kill "$reader" 2>/dev/null || true
      return 1
    fi
    cat -- "$WORK/part"
  done <"$WORK/parts"
  if [[ "$(head -c 1 <&3 | wc -c)" != 0 ]]; then
    log "$ARCHIVE_KEY holds more than its manifest's parts (altered)"
    kill "$reader" 2>/dev/null || true
    return 1
  fi
  exec 3<&-
  wait "$reader" || { log "reading $ARCHIVE_KEY failed: $(cat "$WORK/get.err")"; return 1; }
}

# old:new uid pairs ($1) and gid pairs ($2) applied in one pass over the staging tree
# (./tree, from inside the staging folder), never following a link; set-id bits, which a
# change of owner clears, are put back, except set-uid root and set-gid root: a snapshot
# is written with the instance's role, which its user holds too, so one may carry a
# program that would make its user root.
remap_owners() {
  # The folder this shell is in, by its inode (/proc/<pid>/cwd), not by any path.
  python3 - "/proc/$BASHPID/cwd/tree" "$1" "$2" <<'PYTHON'
import os, stat, sys
root, uid_pairs, gid_pairs = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
uids = {int(a): int(b) for a, b in (p.split(":") for p in uid_pairs)}
gids = {int(a): int(b) for a, b in (p.split(":") for p in gid_pairs)}
changed = 0
for folder, dirs, files in os.walk(root):
    for name in [*dirs, *files, *([""] if folder == root else [])]:
        path = os.path.join(folder, name) if name else folder
        st = os.lstat(path)
        uid, gid = uids.get(st.st_uid, st.st_uid), gids.get(st.st_gid, st.st_gid)
        mode = stat.S_IMODE(st.st_mode)
        wanted = mode & ~(stat.S_ISUID if uid == 0 else 0) & ~(stat.S_ISGID if gid == 0 else 0)
        if (uid, gid, wanted) == (st.st_uid, st.st_gid, mode):
            continue
        if (uid, gid) != (st.st_uid, st.st_gid):
            os.lchown(path, uid, gid)
        if not stat.S_ISLNK(st.st_mode) and (wanted != mode or mode & 0o6000):
            os.chmod(path, wanted)
        changed += 1
print(changed)
PYTHON
}

# Into the staging folder just made, if it is that folder: at the volume's own path,
# root's, 0700 and empty (not a link to, or a folder swapped in from, elsewhere).
enter_staging() {
  local expected
  expected="$(cd -P -- "$VOLUME" && pwd)/$STAGING_NAME"
  cd -P -- "$STAGING" || return 1
  if [[ "$(pwd -P)" != "$expected" || "$(stat -c '%u %a' .)" != "$(id -u) 700" ||
    -n "$(ls -A)" ]]; then
    log "the staging folder $STAGING is not the one just made (replaced): not restoring"
    cd /
    return 1
  fi
}

# Out of the staging folder, its partial tree removed (from inside: never through a path
# the user could have pointed elsewhere).
leave_staging() {
  rm -rf -- tree conflicts
  cd /
  rmdir -- "$STAGING" 2>/dev/null || true
}

restore_worker() {
  local snapshot="$1" owner_map="$2" group_map="$3" reowned base compression tar_code decompress_code moved=0 entry
  local -a decompress sse extract=(-x --file=- --numeric-owner --same-owner --same-permissions)
  mapfile -t sse < <(sse_options)
  base="${PREFIX:+$PREFIX/}$snapshot"
  WORK=$(mktemp -d "$STATE_DIR/restore.XXXXXX")
  trap 'rm -rf -- "$WORK"' EXIT
  aws_cli s3api get-object --bucket "$BUCKET" --key "$base/manifest.json" \
    "$WORK/manifest.json" >/dev/null || { log "no manifest for $snapshot"; return 1; }
  read_manifest "$WORK/manifest.json" "$snapshot" >"$WORK/parts.all" || return 1
  read -r ARCHIVE_KEY compression <"$WORK/parts.all"
  tail -n +2 "$WORK/parts.all" >"$WORK/parts"
  case "$compression" in
    zstd) command -v zstd >/dev/null 2>&1 || { log "$snapshot is zstd; no zstd here"; return 1; }
      decompress=(zstd -d -q -c) ;;
    gzip) decompress=(gzip -d -c) ;;
    *) log "unknown compression $compression"; return 1 ;;
  esac
  if tar --help 2>/dev/null | grep -q -- '--xattrs'; then
    extract+=(--xattrs '--xattrs-include=user.*')
  fi
  if tar --help 2>/dev/null | grep -q -- '--acls'; then extract+=(--acls); fi
  # Root's, 0700, made afresh (a run cut short left a partial tree). Its parent is the
  # user's volume, where the user can rename it or put a link in its place at any time:
  # so all of the restore happens from inside it (the working folder is the folder
  # itself, whatever its name becomes), by relative paths, once it is checked to be ours.
  rm -rf -- "$STAGING"
  mkdir -m 700 -- "$STAGING"
  enter_staging || return 1
  mkdir -m 700 tree
  log "restoring $snapshot into $VOLUME"
  (
    set +e
    verified_parts | "${decompress[@]}" | tar "${extract[@]}" -C tree
    printf '%s %s %s\n' "${PIPESTATUS[@]}" >"$WORK/status"
  )
  read -r parts_code decompress_code tar_code <"$WORK/status"
  if ((parts_code != 0 || decompress_code != 0 || tar_code != 0)); then
    log "restoring $snapshot failed (parts $parts_code, $compression $decompress_code, tar $tar_code)"
    leave_staging
    return 1
  fi
  if ! reowned=$(remap_owners "$owner_map" "$group_map"); then
    log "re-owning the restored tree failed; nothing is moved into the volume"
    leave_staging
    return 1
  fi
  log "re-owned $reowned entries (uids ${owner_map:-kept}, gids ${group_map:-kept})"
  shopt -s nullglob dotglob
  for entry in tree/*; do
    entry=${entry#tree/}
    if [[ -e "$VOLUME/$entry" || -L "$VOLUME/$entry" ]]; then
      mkdir -p -m 700 conflicts
      mv -T -- "tree/$entry" "conflicts/$entry"
      log "kept $entry, already in the volume; the snapshot's is in $STAGING/conflicts"
    else
      mv -T -- "tree/$entry" "$VOLUME/$entry"
      moved=$((moved + 1))
    fi
  done
  shopt -u nullglob dotglob
  rmdir tree
  cd /
  # A link someone put in its place is not a folder: rmdir leaves it (and what it names).
  rmdir -- "$STAGING" 2>/dev/null || true
  printf '{"snapshot": "%s", "instance": "%s", "entries": %s}\n' "$snapshot" "$INSTANCE_NAME" \
    "$moved" >"$WORK/restored"
  aws_cli s3api put-object --bucket "$BUCKET" --key "$base/restored/$INSTANCE_NAME" \
    --body "$WORK/restored" --content-type application/json "${sse[@]}" >/dev/null
  log "restored $snapshot: $moved entries in $VOLUME"
}

# 0: this instance has restored the snapshot: its volume holds something and the marker
# is in S3, written after this instance was created. A user of another instance whose
# role can write the bucket could put a marker there, in advance or while this instance
# boots; no one can write to this volume before the restore (the instance is Pending), so
# an empty volume is restored whatever the bucket says. 1: not yet; 2: S3 or SageMaker
# could not say (then nothing is restored this start: never twice over a volume).
restored_already() {
  local key="${PREFIX:+$PREFIX/}$1/restored/$INSTANCE_NAME" written created
  if volume_empty; then return 1; fi
  if ! written=$(aws_cli s3api head-object --bucket "$BUCKET" --key "$key" \
    --query LastModified --output text 2>"$STATE_DIR/head.err"); then
    if grep -q -e '(404)' -e 'Not Found' "$STATE_DIR/head.err"; then return 1; fi
    log "cannot tell whether $1 was restored: $(tr '\n' ' ' <"$STATE_DIR/head.err")"
    return 2
  fi
  if ! created=$(aws_sagemaker describe-notebook-instance --notebook-instance-name \
    "$INSTANCE_NAME" --query CreationTime --output text 2>"$STATE_DIR/head.err"); then
    log "cannot read when this instance was created: $(tr '\n' ' ' <"$STATE_DIR/head.err")"
    return 2
  fi
  if written_after "$written" "$created"; then return 0; fi
  log "s3://$BUCKET/$key is older than this instance (not its restore): restoring $1"
  return 1
}

# Nothing in the volume but what the file system or an earlier run of this script put
# there (lost+found, an empty staging folder).
volume_empty() {
  [[ -z "$(find "$VOLUME/" -mindepth 1 -maxdepth 1 ! -name lost+found \
    ! -name "$STAGING_NAME" -print -quit)" ]]
}

# Whether time $1 is at or after time $2 (whole seconds); each as the CLI prints it:
# epoch seconds, ISO 8601, or an HTTP date.
written_after() {
  python3 - "$1" "$2" <<'PYTHON'
import sys
from datetime import datetime
from email.utils import parsedate_to_datetime
def seconds(text):
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return parsedate_to_datetime(text).timestamp()
sys.exit(0 if int(seconds(sys.argv[1])) >= int(seconds(sys.argv[2])) else 1)
PYTHON
}

# The restore this instance's tags ask for, unless done; returns 1 when it failed.
restore_if_named() {
  local snapshot owner_map group_map status=0
  INSTANCE_ARN=$(instance_field ResourceArn)
  INSTANCE_NAME=$(instance_field ResourceName)
  [[ "$INSTANCE_NAME" =~ $NAME_RE ]] || die "instance name '$INSTANCE_NAME' is not a SageMaker name"
  STAGING="$VOLUME/$STAGING_NAME"
  snapshot=$(read_tag "$SNAPSHOT_TAG")
  [[ -n "$snapshot" ]] || return 0
  [[ "$snapshot" =~ $ID_RE ]] || die "tag $SNAPSHOT_TAG is not a notebook snapshot id: '$snapshot'"
  owner_map=$(read_tag "$OWNER_MAP_TAG")
  [[ "$owner_map" =~ $OWNER_MAP_RE ]] || die "tag $OWNER_MAP_TAG is not uid:uid pairs: '$owner_map'"
  group_map=$(read_tag "$GROUP_MAP_TAG" "$owner_map")
  [[ "$group_map" =~ $OWNER_MAP_RE ]] || die "tag $GROUP_MAP_TAG is not gid:gid pairs: '$group_map'"
  hold_lock restore
  restored_already "$snapshot" || status=$?
  case "$status" in
    0) return 0 ;;
    2) return 1 ;;
  esac
  restore_worker "$snapshot" "$owner_map" "$group_map"
}
