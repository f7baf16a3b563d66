"""Snapshots of share directories and homes to S3, and restores from them.

The format (one archive per share directory or home): a POSIX tar stream made by GNU
tar, compressed by zstd, optionally sealed in AES-256-GCM frames (frames.py), uploaded
to S3 with a multipart upload as it is produced (s3stream.py), then a manifest written
last (manifest.py). Restores verify every part before anything lands where the user
sees it (restore.py) and extract with this package's own no-follow extractor
(extract.py), never with a tool that would trust the archive.

This package initialiser imports nothing on purpose: the pure modules (spec, manifest,
schedule, retention, remap, tarstream) are used by the planning core, which must not
pull in boto3 through a sibling module.
"""
