"""The file system policy rules EFS applies when a client connects (efs_access), one by one,
against what the EFS user guide documents ("Using IAM to control NFS access")."""

from __future__ import annotations

import json

from controller.emulator.efs_access import Client, refusal

WORKER = "arn:aws:iam::123456789012:role/worker"
STRANGER = "arn:aws:iam::999999999999:role/other"


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: list[str], principal: object = None, **extra: object) -> dict:
    return {"Effect": "Allow", "Principal": principal or {"AWS": "*"}, "Action": actions,
            "Resource": "*", **extra}


def deny(actions: list[str], principal: object = None, **extra: object) -> dict:
    return {**allow(actions, principal, **extra), "Effect": "Deny"}


def test_without_a_policy_every_client_gets_in():
    assert refusal(None, Client()) is None
    assert refusal(None, Client(principal=WORKER, root=True)) is None


def test_an_explicit_deny_refuses_the_actions_a_mount_needs():
    fence = policy(deny(["elasticfilesystem:ClientWrite"]))
    assert "denies elasticfilesystem:ClientWrite" in refusal(fence, Client(principal=WORKER))
    assert refusal(fence, Client(principal=WORKER, write=False)) is None
    everything = policy(deny(["elasticfilesystem:*"]))
    assert "ClientMount" in refusal(everything, Client(principal=WORKER, write=False))
    root = policy(deny(["elasticfilesystem:ClientRootAccess"]))
    assert refusal(root, Client(principal=WORKER)) is None
    assert "ClientRootAccess" in refusal(root, Client(principal=WORKER, root=True))


def test_a_policy_replaces_the_default_access_of_clients_without_iam():
    someone_else = policy(allow(["elasticfilesystem:ClientMount"], {"AWS": WORKER}))
    assert "does not allow elasticfilesystem:ClientMount" in refusal(someone_else, Client())
    read_only = policy(allow(["elasticfilesystem:ClientMount"]))
    assert refusal(read_only, Client(write=False)) is None
    assert "does not allow elasticfilesystem:ClientWrite" in refusal(read_only, Client())
    assert refusal(policy(allow(["elasticfilesystem:Client*"])), Client()) is None


def test_principals_match_by_arn_account_or_wildcard():
    only_worker = policy(deny(["elasticfilesystem:ClientMount"], {"AWS": [WORKER]}))
    assert refusal(only_worker, Client(principal=WORKER)) is not None
    assert refusal(only_worker, Client(principal=STRANGER)) is None
    account = policy(deny(["elasticfilesystem:ClientMount"],
                          {"AWS": "arn:aws:iam::123456789012:root"}))
    assert refusal(account, Client(principal=WORKER)) is not None
    assert refusal(account, Client(principal=STRANGER)) is None
    anyone_but_worker = policy({"Effect": "Deny", "NotPrincipal": {"AWS": WORKER},
                                "Action": "elasticfilesystem:ClientMount", "Resource": "*"})
    assert refusal(anyone_but_worker, Client(principal=WORKER)) is None
    assert refusal(anyone_but_worker, Client(principal=STRANGER)) is not None


def test_conditions_it_knows_are_evaluated_and_unknown_ones_are_read_strictly():
    tls_only = policy(deny(["elasticfilesystem:*"],
                           Condition={"Bool": {"aws:SecureTransport": "false"}}))
    assert refusal(tls_only, Client(principal=WORKER)) is None
    assert refusal(tls_only, Client(principal=WORKER, tls=False)) is not None
    via_target = policy(allow(["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                              Condition={"Bool": {
                                  "elasticfilesystem:AccessedViaMountTarget": "true"}}))
    assert refusal(via_target, Client()) is None
    unknown = {"StringEquals": {"aws:SourceVpce": "vpce-1"}}
    assert refusal(policy(deny(["elasticfilesystem:ClientWrite"], Condition=unknown)),
                   Client(principal=WORKER)) is not None, "a Deny with an unknown condition applies"
    assert refusal(policy(allow(["elasticfilesystem:Client*"], Condition=unknown)),
                   Client()) is not None, "an Allow with an unknown condition does not"
    not_me = policy(deny(["elasticfilesystem:ClientMount"], Condition={
        "ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/work*"}}))
    assert refusal(not_me, Client(principal=WORKER)) is None
    assert refusal(not_me, Client(principal=STRANGER)) is not None
