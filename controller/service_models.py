"""Botocore's service models, parsed smaller: what every client the gateway makes reads.

A client keeps its service's whole model in memory for as long as the process lives
(botocore's loader caches it, and the client's ServiceModel reads shapes from it on
demand). As botocore parses them, the models of the services the controller uses
(SageMaker, EC2, EFS, DynamoDB, IAM, S3, ...) hold about 45 MB of a controller whose
budget is 150 MB at 5,000 profiles. Most of that is the parsing's own overhead, not
content: every object is an OrderedDict (about twice a dict's size; botocore asks for
them out of habit from before dicts kept their order) and every repeated value
("shape": "String", "type": "structure") is a string of its own.

`compact(session)` makes a session's loader parse model files into plain dicts, with
their string values interned and the `documentation` text emptied. Botocore reads that
text only to build docstrings (help() on a client method, the generated docs), never to
make, sign, validate or parse a call; paginators, waiters and endpoint rules are parsed
the same way and work unchanged. The keys stay (with ""), since some code indexes them;
a key "documentation" is emptied only where its value is text: a structure member of
that name (a mapping) is kept.

This module only changes how a session parses models; it makes no client and no call.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import IO, Any

import boto3
from botocore.loaders import JSONFileLoader

# Keys whose text botocore only shows to people (docstrings, generated documentation).
DOC_KEYS = frozenset({"documentation", "documentationUrl"})


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """One JSON object of a model: a plain dict, its documentation text emptied, its
    other text values interned (the same few names recur tens of thousands of times)."""
    kept: dict[str, Any] = {}
    for key, value in pairs:
        if type(value) is str:
            # Emptied, not dropped: a few readers index the key (S3's client context
            # parameters are built from param["documentation"]).
            value = "" if key in DOC_KEYS else sys.intern(value)
        kept[key] = value
    return kept


class CompactJSONFileLoader(JSONFileLoader):
    """Botocore's JSON file loader (same files, same lookup), parsing with `_object`."""

    def _load_file(self, full_path: str,
                   open_method: Callable[..., IO[bytes]]) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            payload = fp.read()
        return json.loads(payload, object_pairs_hook=_object)


def compact(session: boto3.session.Session) -> None:
    """Make `session` parse every model it has not loaded yet with CompactJSONFileLoader.

    The loader itself (its search paths, which boto3 extends, and its cache) is kept;
    only how it reads a file changes. Call it before the session makes its first client;
    a model already parsed stays as it was."""
    # boto3 exposes its botocore session only under this name.
    loader = session._session.get_component("data_loader")
    if not isinstance(loader.file_loader, CompactJSONFileLoader):
        loader.file_loader = CompactJSONFileLoader()
