"""The process's open-file limit, raised once at start where the platform allows.

The copy engine and the failback save hold descriptors for the directories they are in
(bounded, but a parallel copy on a wide tree wants hundreds), and the controller serves
metrics and talks to AWS at the same time. The soft limit is often 1,024 while the hard
limit allows far more: studioctl raises the soft limit to the hard one at start. This
module must not lower a limit or fail the caller: a refusal leaves the limit as it was.
"""

from __future__ import annotations

import contextlib
import resource

# When the hard limit is unlimited, this much is plenty (and what Fargate gives).
UNLIMITED_TARGET = 65536


def raise_open_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = UNLIMITED_TARGET if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and want > soft:
        with contextlib.suppress(ValueError, OSError):  # a platform that refuses it
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
