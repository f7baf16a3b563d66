"""Botocore's service models, held smaller: what every client the gateway makes reads.

A client keeps its service's whole model in memory for as long as the process lives
(botocore's loader caches it, and the client's ServiceModel reads shapes from it on
demand). As botocore parses them, the models of nine services the controller uses
(SageMaker, EC2, EFS, DynamoDB, IAM, S3, STS, ECS, DataSync) hold about 44 MB (traced)
of a controller whose budget is 150 MB at 5,000 profiles. Much of that is the parse's
form, not content: every object an OrderedDict (larger than a dict, which keeps its
order anyway) and every repeated value ("shape": "String") a string of its own.

`compact(session)` makes a session's loader parse model files into plain dicts, with
their string values interned and the `documentation` text emptied, and keeps each
service model's shapes as ShapesOnDemand (JSON text, parsed per shape when first used).
Botocore never uses the documentation text to make, sign, validate or parse a call
(docstrings and generated docs show it); the keys stay, with "", since some code indexes
them (S3's client context parameters). A key "documentation" is emptied only where its
value is text: a structure member of that name (a mapping) is kept. Paginators, waiters
and endpoint rules are parsed the same way and work unchanged.

This module only changes how a session loads models; it makes no client and no call.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
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


class ShapesOnDemand(Mapping[str, Any]):
    """A service model's shapes, each kept as its compact JSON text and parsed the first
    time botocore asks for it.

    A client reads the shapes of the operations it calls, a few dozen of EC2's 4,000 or
    SageMaker's 3,000, and a shape parsed into dicts is about ten times its text. The
    only reader of a model's "shapes" in botocore is its ShapeResolver (by name) and
    ServiceModel.shape_names (the names), which a Mapping serves as a dict does."""

    def __init__(self, shapes: Mapping[str, Any]) -> None:
        self._text = {name: json.dumps(shape, separators=(",", ":"))
                      for name, shape in shapes.items()}
        self._parsed: dict[str, Any] = {}
        self._lock = threading.Lock()  # clients are shared by the pass's workers

    def __getitem__(self, name: str) -> Any:
        with self._lock:
            found = self._parsed.get(name)
            if found is None:
                found = self._parsed[name] = json.loads(self._text[name],
                                                        object_pairs_hook=_object)
            return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._text)

    def __len__(self) -> int:
        return len(self._text)

    def parsed(self) -> frozenset[str]:
        """The shapes asked for so far."""
        with self._lock:
            return frozenset(self._parsed)


def compact(session: boto3.session.Session) -> None:
    """Make `session` parse every model it has not loaded yet with CompactJSONFileLoader,
    and keep each service model's shapes as ShapesOnDemand.

    The loader itself (its search paths, which boto3 extends, and its cache) is kept;
    only how it reads a file and what its service models hold change. Call it before the
    session makes its first client; a model already loaded stays as it was."""
    # boto3 exposes its botocore session only under this name.
    loader = session._session.get_component("data_loader")
    if not isinstance(loader.file_loader, CompactJSONFileLoader):
        loader.file_loader = CompactJSONFileLoader()
    if not getattr(loader.load_service_model, "shapes_on_demand", False):
        loader.load_service_model = _shapes_on_demand(loader.load_service_model)


def _shapes_on_demand(load: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a loader's (cached) load_service_model: a service model it returns has its
    shapes made ShapesOnDemand, once (the loader's cache holds the same dict after)."""

    def load_service_model(service_name: str, type_name: str,
                           api_version: str | None = None) -> Any:
        model = load(service_name, type_name, api_version)
        if type_name == "service-2" and isinstance(model.get("shapes"), dict):
            model["shapes"] = ShapesOnDemand(model["shapes"])
        return model

    load_service_model.shapes_on_demand = True  # type: ignore[attr-defined]
    return load_service_model
