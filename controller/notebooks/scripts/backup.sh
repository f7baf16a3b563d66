# shellcheck shell=bash
# Backup (OnStart): on every start, a snapshot of the volume in the background, so the
# start is never held up (SageMaker fails a start whose lifecycle script runs 5 minutes).
#
# The archive is GNU tar (POSIX format: numeric owners, modes, nanosecond mtimes, hard
# links as links, symlinks as links, sparse files, xattrs and ACLs where tar knows them),
# compressed by zstd (gzip, or pigz, where zstd is not installed: the manifest says which),
# cut into parts as it is made and uploaded with an S3 multipart upload (SHA-256 per part,
# checked by S3): no full-size copy ever lands on disk. The instance has no way to make
# studio-operator's client-side AES-GCM frames, so a policy's KMS key encrypts server-side
# (SSE-KMS), and the manifest says so. manifest.json is written once the archive is
# complete, then the COMPLETE marker: a snapshot without its manifest is never used.

LEVEL=@@LEVEL@@
# The manifest's "revision": a notebook's snapshots are made by its lifecycle config, not
# by a pass of the controller under one revision of the desired state.
REVISION=notebook-lifecycle-config
MIN_PART=$((8 * 1024 * 1024))
MAX_PARTS=10000
# What the volume holds that is not the user's: the ext4 root's lost+found, and a restore's
# staging folder.
EXCLUDED=(./lost+found "./$STAGING_NAME")

choose_compressor() {
  if command -v zstd >/dev/null 2>&1; then
    COMPRESS=(zstd -T0 "-$LEVEL" -q -c) COMPRESSION=zstd EXTENSION=tar.zst
  elif command -v pigz >/dev/null 2>&1; then
    COMPRESS=(pigz -c "-$(gzip_level)") COMPRESSION=gzip EXTENSION=tar.gz
  else
    COMPRESS=(gzip -c "-$(gzip_level)") COMPRESSION=gzip EXTENSION=tar.gz
  fi
}

gzip_level() {
  if ((LEVEL > 9)); then echo 9; else echo "$LEVEL"; fi
}

# Parts of at least 8 MiB, large enough that the volume fits in S3's 10,000 parts.
part_size() {
  local used
  used=$(df -P -B1 -- "$VOLUME" | awk 'NR == 2 { print $3 }')
  awk -v used="${used:-0}" -v min="$MIN_PART" 'BEGIN {
    mib = 1048576; size = int((used / 9000 + mib - 1) / mib) * mib
    printf "%d\n", (size > min ? size : min) }'
}

tar_options() {
  TAR_OPTIONS=(--create --file=- --format=posix --numeric-owner --sparse --one-file-system
    "--pax-option=delete=atime,delete=ctime" --totals --verbose --verbose)
  # Older tars (Amazon Linux 1) may lack these; the manifest's counts still hold.
  if tar --help 2>/dev/null | grep -q -- '--xattrs'; then
    TAR_OPTIONS+=(--xattrs '--xattrs-include=user.*')
  fi
  if tar --help 2>/dev/null | grep -q -- '--acls'; then
    TAR_OPTIONS+=(--acls)
  fi
  local excluded
  for excluded in "${EXCLUDED[@]}"; do
    TAR_OPTIONS+=("--exclude=$excluded")
  done
}

abort_upload() {
  if [[ -n "${UPLOAD_ID:-}" && "${COMPLETED:-0}" == 0 ]]; then
    aws_cli s3api abort-multipart-upload --bucket "$BUCKET" --key "$ARCHIVE_KEY" \
      --upload-id "$UPLOAD_ID" >/dev/null 2>&1 || log "could not abort upload $UPLOAD_ID"
  fi
  if [[ -n "${PRODUCER:-}" ]]; then kill "$PRODUCER" 2>/dev/null || true; fi
  if [[ -n "${WORK:-}" ]]; then rm -rf -- "$WORK"; fi
}

upload_parts() {
  local number=0 size hex checksum etag
  while :; do
    head -c "$PART_SIZE" >"$WORK/part"
    size=$(stat -c %s "$WORK/part")
    ((size > 0)) || break
    number=$((number + 1))
    ((number <= MAX_PARTS)) || { log "the archive needs more than $MAX_PARTS parts"; return 1; }
    hex=$(sha256sum "$WORK/part" | cut -d' ' -f1)
    checksum=$(hex_to_base64 "$hex")
    etag=$(aws_cli s3api upload-part --bucket "$BUCKET" --key "$ARCHIVE_KEY" \
      --upload-id "$UPLOAD_ID" --part-number "$number" --body "$WORK/part" \
      --checksum-sha256 "$checksum" --query ETag --output text) || return 1
    printf '%s %s %s %s %s\n' "$number" "$size" "$hex" "$checksum" "$etag" >>"$WORK/parts"
  done <"$WORK/stream"
}

# manifest.json and the CompleteMultipartUpload body, from what the run recorded.
write_json() {
  python3 - "$WORK" "$@" <<'PYTHON'
import hashlib, json, sys
work, mode, *args = sys.argv[1:]
parts = [line.split() for line in open(f"{work}/parts")]
if mode == "complete":
    body = {"Parts": [{"PartNumber": int(n), "ETag": etag, "ChecksumSHA256": b64}
                      for n, _size, _hex, b64, etag in parts]}
    json.dump(body, open(f"{work}/complete.json", "w"))
    sys.exit(0)
(snapshot, policy, notebook, instance, region, platform_user, created, completed, revision,
 bucket, key, compression, level, bytes_in, kms) = args
counts = {"files": 0, "directories": 0, "symlinks": 0, "hard_links": 0, "other": 0}
kinds = {"-": "files", "d": "directories", "l": "symlinks", "h": "hard_links"}
uids, gids = set(), set()
for line in open(f"{work}/index", "rb"):
    text = line.decode("utf-8", "replace")
    if not text.strip():
        continue
    counts[kinds.get(text[0], "other")] += 1
    fields = text.split(None, 2)
    if len(fields) >= 2 and "/" in fields[1]:
        uid, _, gid = fields[1].partition("/")
        if uid.isdigit() and gid.isdigit():
            uids.add(int(uid)); gids.add(int(gid))
outer = hashlib.sha256()
for part in parts:
    outer.update(bytes.fromhex(part[2]))
manifest = {
    "format": "studio-operator-snapshot/v1", "id": snapshot, "policy": policy,
    "source": {"kind": "notebook", "file_system": "", "file_system_id": "",
               "path": "/home/ec2-user/SageMaker", "region": region, "profile": None,
               "share": None, "domain": None, "notebook": notebook, "instance": instance,
               "owner": platform_user},
    "created_at": float(created), "completed_at": float(completed), "revision": revision,
    "bucket": bucket, "archive_key": key, "compression": compression,
    "compression_level": int(level),
    "parts": [{"number": int(n), "size": int(size), "sha256": hx}
              for n, size, hx, _b64, _etag in parts],
    "sha256": outer.hexdigest(), "bytes_in": int(bytes_in),
    "bytes_out": sum(int(p[1]) for p in parts), "counts": counts,
    "uids": sorted(uids), "gids": sorted(gids), "encryption": None,
    "server_side_encryption": {"algorithm": "aws:kms", "key_id": kms} if kms else None,
    "made_by": "notebook instance lifecycle configuration (OnStart)",
}
json.dump(manifest, open(f"{work}/manifest.json", "w"), indent=1, sort_keys=True)
PYTHON
}

backup_worker() {
  local started stamp snapshot base instance tar_code compress_code bytes_in owner
  local -a sse
  hold_lock backup
  mapfile -t sse < <(sse_options)
  choose_compressor
  tar_options
  PART_SIZE=$(part_size)
  instance=$(instance_field ResourceName)
  owner=${STUDIO_OPERATOR_EC2_USER:-$(id -u ec2-user 2>/dev/null):$(id -g ec2-user 2>/dev/null)}
  started=$(date +%s.%N)
  stamp="$(date -u +%Y%m%dT%H%M%SZ)-$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')"
  snapshot="$POLICY/notebook/$NOTEBOOK/$stamp"
  base="${PREFIX:+$PREFIX/}$snapshot"
  ARCHIVE_KEY="$base/archive.$EXTENSION"
  WORK=$(mktemp -d "$STATE_DIR/backup.XXXXXX")
  trap abort_upload EXIT
  log "snapshot $snapshot of $VOLUME to s3://$BUCKET/$base/ ($COMPRESSION, parts of $PART_SIZE bytes)"
  UPLOAD_ID=$(aws_cli s3api create-multipart-upload --bucket "$BUCKET" --key "$ARCHIVE_KEY" \
    --checksum-algorithm SHA256 "${sse[@]}" --query UploadId --output text)
  mkfifo "$WORK/stream"
  (
    set +e
    tar "${TAR_OPTIONS[@]}" "--index-file=$WORK/index" -C "$VOLUME" . 2>"$WORK/tar.err" |
      "${COMPRESS[@]}"
    printf '%s %s\n' "${PIPESTATUS[@]}" >"$WORK/status"
  ) >"$WORK/stream" &
  PRODUCER=$!
  if ! upload_parts; then
    log "uploading $ARCHIVE_KEY failed; the upload is aborted, the next start tries again"
    exit 1
  fi
  wait "$PRODUCER" || true
  PRODUCER=
  read -r tar_code compress_code <"$WORK/status"
  # tar's 1: a file changed while it was read (the instance is in use): kept as it was read.
  if ((tar_code > 1 || compress_code != 0)); then
    log "tar ($tar_code) or $COMPRESSION ($compress_code) failed: $(tail -n 3 "$WORK/tar.err")"
    exit 1
  fi
  bytes_in=$(sed -n 's/^Total bytes written: \([0-9]*\).*/\1/p' "$WORK/tar.err" | tail -n 1)
  write_json complete
  aws_cli s3api complete-multipart-upload --bucket "$BUCKET" --key "$ARCHIVE_KEY" \
    --upload-id "$UPLOAD_ID" --multipart-upload "file://$WORK/complete.json" >/dev/null
  COMPLETED=1
  write_json manifest "$snapshot" "$POLICY" "$NOTEBOOK" "$instance" "$REGION" "$owner" \
    "$started" "$(date +%s.%N)" "$REVISION" "$BUCKET" "$ARCHIVE_KEY" "$COMPRESSION" \
    "$LEVEL" "${bytes_in:-0}" "$KMS_KEY_ID"
  aws_cli s3api put-object --bucket "$BUCKET" --key "$base/manifest.json" \
    --body "$WORK/manifest.json" --content-type application/json "${sse[@]}" >/dev/null
  printf '{"snapshot": "%s", "instance": "%s"}\n' "$snapshot" "$instance" >"$WORK/complete"
  aws_cli s3api put-object --bucket "$BUCKET" --key "$base/COMPLETE" \
    --body "$WORK/complete" --content-type application/json "${sse[@]}" >/dev/null
  printf '%s\n' "$snapshot" >"$STATE_DIR/last-backup"
  log "snapshot $snapshot complete ($(wc -l <"$WORK/parts") parts)"
}

backup_main() {
  prepare_state
  require_tools
  if [[ "$FOREGROUND" == 1 ]]; then
    backup_worker
    return 0
  fi
  in_background backup backup_worker
}
