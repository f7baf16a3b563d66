"""Whether an EFS file system policy lets a client mount, decided as EFS decides it.

"When a client connects to a file system, Amazon EFS evaluates the file system's IAM
resource policy" (EFS user guide, "Using IAM to control NFS access"): only at connection
time, so a mount made before a policy changed keeps the access it had. The rules here:

- no policy: EFS's default, full access for any client that reaches a mount target;
- an explicit Deny of an action the mount needs (ClientMount always, ClientWrite for a
  read-write mount, ClientRootAccess for a root mount) refuses it;
- a policy that exists replaces the default: an anonymous client (no IAM authorization,
  as Studio apps mount custom file systems) then needs an Allow for each of those
  actions. A read-write mount without ClientWrite is refused here (the stricter reading
  of EFS's read-only fallback). An IAM-authorized client is taken to hold the Client*
  actions in its identity policy (the emulator does not evaluate identity policies), so
  only a Deny stops it.

Conditions the emulator understands (Bool, String*, Arn* on aws:SecureTransport,
elasticfilesystem:AccessedViaMountTarget, aws:PrincipalArn, aws:PrincipalAccount) are
evaluated; any other condition makes a Deny apply and an Allow not apply (stricter).
Pure: no I/O, no state.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import dataclass
from typing import Any

CLIENT_MOUNT = "elasticfilesystem:ClientMount"
CLIENT_WRITE = "elasticfilesystem:ClientWrite"
CLIENT_ROOT = "elasticfilesystem:ClientRootAccess"
_ARN_ACCOUNT = 4  # arn:partition:service:region:account:resource


@dataclass(frozen=True)
class Client:
    """Who connects, and what for."""

    principal: str | None = None  # an IAM principal ARN (IAM-authorized); None: anonymous
    write: bool = True
    root: bool = False
    tls: bool = True

    def actions(self) -> list[str]:
        return [CLIENT_MOUNT, *([CLIENT_WRITE] if self.write else []),
                *([CLIENT_ROOT] if self.root else [])]

    @property
    def who(self) -> str:
        return self.principal or "anonymous clients"


def refusal(policy: str | None, client: Client) -> str | None:
    """Why the policy refuses this mount, or None when it lets it in."""
    if policy is None:
        return None
    statements = _statements(policy)
    for action in client.actions():
        if any(_applies(s, "Deny", action, client) for s in statements):
            return f"the file system policy denies {action} to {client.who}"
    if client.principal is None:
        for action in client.actions():
            if not any(_applies(s, "Allow", action, client) for s in statements):
                return (f"the file system policy does not allow {action} to {client.who} "
                        "(a policy replaces EFS's default access for clients without IAM)")
    return None


def _statements(policy: str) -> list[dict[str, Any]]:
    try:
        document = json.loads(policy)
    except ValueError:
        return []
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    return [s for s in statements or [] if isinstance(s, dict)]


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _applies(statement: dict[str, Any], effect: str, action: str, client: Client) -> bool:
    if statement.get("Effect") != effect:
        return False
    if "Action" in statement:
        matched = _action_in(action, _listed(statement["Action"]))
    else:
        matched = not _action_in(action, _listed(statement.get("NotAction")))
    if not matched:
        return False
    if "Principal" in statement:
        principal = _principal_in(client, statement["Principal"])
    elif "NotPrincipal" in statement:
        principal = not _principal_in(client, statement["NotPrincipal"])
    else:
        principal = effect == "Deny"  # malformed: a Deny is taken to apply, an Allow not
    if not principal:
        return False
    results = [_condition(op, key, values, client)
               for op, block in (statement.get("Condition") or {}).items()
               for key, values in (block or {}).items()]
    if effect == "Deny":
        return all(r is not False for r in results)
    return all(r is True for r in results)


def _action_in(action: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def _principal_in(client: Client, principal: Any) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for entry in _listed(principal.get("AWS")):
        if entry == "*":
            return True
        if client.principal is None:
            continue
        if entry == client.principal:
            return True
        account = _account_of(client.principal)
        if entry == account or entry.endswith(f":iam::{account}:root"):
            return True
    return False


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    return parts[_ARN_ACCOUNT] if len(parts) > _ARN_ACCOUNT else ""


def _context(client: Client) -> dict[str, str]:
    context = {"aws:securetransport": "true" if client.tls else "false",
               "elasticfilesystem:accessedviamounttarget": "true"}
    if client.principal is not None:
        context["aws:principalarn"] = client.principal
        context["aws:principalaccount"] = _account_of(client.principal)
    return context


def _condition(operator: str, key: str, expected: Any, client: Client) -> bool | None:
    """True or False when understood; None (unknown) otherwise."""
    if operator.startswith(("ForAnyValue:", "ForAllValues:")):
        return None  # set operators: not modelled
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    value = _context(client).get(key.lower())
    if value is None:
        return True if if_exists else (False if key.lower() in _KNOWN_KEYS else None)
    wanted = _listed(expected)
    if base == "Bool":
        return value.lower() in (w.lower() for w in wanted)
    negated = "Not" in base
    kind = base.replace("Not", "")
    if kind in ("StringEquals", "ArnEquals"):
        hit = value in wanted
    elif kind == "StringEqualsIgnoreCase":
        hit = value.lower() in (w.lower() for w in wanted)
    elif kind in ("StringLike", "ArnLike"):
        hit = any(fnmatch.fnmatchcase(value, w) for w in wanted)
    else:
        return None
    return not hit if negated else hit


_KNOWN_KEYS = ("aws:securetransport", "elasticfilesystem:accessedviamounttarget",
               "aws:principalarn", "aws:principalaccount")
