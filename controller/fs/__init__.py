"""Work on the mounted file systems: share directories now, copies and snapshots later.

The controller runs as root on file systems where users can write: everything here
walks with no-follow, fd-relative operations and never leaves the share it was given.
"""
