"""Every malicious or broken change to the example desired state that the desired-state
tests refuse, as one list: an id and an edit of a copy of desired_state/.

The tests of each rule (test_yaml_safety, test_schema_problems, test_cross_document_rules,
test_nested_share_paths, test_space_backup_share) check the exact problem; this list
lets other tests make the same changes elsewhere (test_hostile_inputs: each is refused;
tests/converge/test_bad_revisions: a running controller keeps its last good revision).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from controller.desired.yamlsafe import MAX_DOCUMENTS
from controller.model import API_VERSION
from tests.desired_state.helpers import edit, write
from tests.desired_state.test_cross_document_rules import ALICE_ROW, GRACE_ROW, add_share
from tests.desired_state.test_yaml_safety import BILLION_LAUGHS
from tests.example_estate import turn_on_space_backup

Edit = Callable[[Path], object]

# A file outside the desired state that a committed link must not make the controller
# read; its content shows up in a problem message if it is read.
OUTSIDE_SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY"


def _attach(estate: Path, share: str, domain: str = "research") -> None:
    edit(estate / f"{domain}.yaml", "shares: [home, team, datasets]",
         f"shares: [home, team, datasets, {share}]")


def _outside_link(estate: Path) -> None:
    secret = estate.parent / "controller-secret.yaml"
    secret.write_text(f'apiVersion: {API_VERSION}\nkind: "{OUTSIDE_SECRET}"\n')
    (estate / "zz-secret.yaml").symlink_to(secret)


def _no_yaml(estate: Path) -> None:
    for path in estate.glob("*.yaml"):
        path.unlink()
    write(estate / "README.md", "# not desired state\n")


def _python_tag(estate: Path) -> None:
    planted = estate.parent / "planted"
    write(estate / "evil.yaml", f"""
        apiVersion: studio-operator.io/v1alpha1
        kind: Share
        metadata:
          name: evil
        spec: !!python/object/apply:os.system ["touch {planted}"]
        """)


def _second_estate(estate: Path) -> None:
    write(estate / "second.yaml", (estate / "estate.yaml").read_text().replace(
        "name: ml-platform", "name: other"))


def _backup_share(estate: Path, mode: str) -> None:
    turn_on_space_backup(estate, mode=mode, file_name="zz-backups.yaml")


HOSTILE: list[tuple[str, Edit]] = [
    # Reading YAML safely (test_yaml_safety)
    ("duplicate-key", lambda e: edit(e / "estate.yaml", "  mode: active-passive\n",
                                     "  mode: active-passive\n  mode: active-active\n")),
    ("duplicate-key-in-table-row", lambda e: edit(
        e / "analytics.yaml", "{name: frank, uid: 200203, gid: 1003}",
        "{name: frank, uid: 200203, gid: 1003, uid: 200299}")),
    ("alias-bomb", lambda e: write(e / "bomb.yaml", BILLION_LAUGHS)),
    ("recursive-alias", lambda e: write(e / "loop.yaml", """
        apiVersion: studio-operator.io/v1alpha1
        kind: Share
        metadata: &self
          name: loop
          again: *self
        """)),
    ("file-over-4-mib", lambda e: (e / "huge.yaml").write_bytes(
        b"# padding\n" * (5 * 1024 * 1024 // 10))),
    ("over-ten-thousand-documents", lambda e: (e / "many.yaml").write_text(
        "---\n{}\n" * (MAX_DOCUMENTS + 1), encoding="utf-8")),
    ("nesting-a-million-deep", lambda e: (e / "deep.yaml").write_text(
        "a: " + "[" * 1_000_000 + "\n", encoding="utf-8")),
    ("keys-read-as-bool-or-number", lambda e: write(e / "odd.yaml", """
        apiVersion: studio-operator.io/v1alpha1
        kind: Share
        metadata:
          name: odd
          on: true
          200101: bob
        """)),
    ("yaml-syntax-error", lambda e: edit(e / "shares.yaml", "  scope: domain\n",
                                         "  scope: [domain\n")),
    ("document-that-is-a-list", lambda e: write(e / "listed.yaml", """
        - apiVersion: studio-operator.io/v1alpha1
          kind: Share
        """)),
    ("python-tag", _python_tag),
    ("not-utf8", lambda e: (e / "latin.yaml").write_bytes(
        b"# comment\nmetadata:\n  name: caf\xe9\n")),
    ("control-character", lambda e: (e / "bell.yaml").write_text(
        "# ok\nname: ding\x07\n", encoding="utf-8")),
    ("dangling-symlink", lambda e: (e / "gone.yaml").symlink_to(e / "does-not-exist.yaml")),
    ("symlink-to-a-file-outside", _outside_link),
    ("no-yaml-files-left", _no_yaml),
    # Schemas (test_schema_problems)
    ("unknown-field", lambda e: edit(e / "research.yaml", "  authMode: IAM\n",
                                     "  authmode: IAM\n")),
    ("missing-required-field", lambda e: edit(
        e / "analytics.yaml", "  executionRole: studio-execution-role\n", "")),
    ("value-outside-enum", lambda e: edit(e / "estate.yaml", "mode: active-passive",
                                          "mode: active-standby")),
    ("uid-out-of-range-in-table", lambda e: edit(e / "analytics.yaml",
                                                 "{name: frank, uid: 200203",
                                                 "{name: frank, uid: 500")),
    ("gid-out-of-range", lambda e: edit(e / "research.yaml", "    uid: 200103\n    gid: 1002\n",
                                        "    uid: 200103\n    gid: 99\n")),
    ("name-sagemaker-refuses", lambda e: edit(e / "research.yaml", "name: bob",
                                              "name: bob_smith")),
    ("unquoted-mode", lambda e: edit(e / "shares.yaml", 'mode: "0700"', "mode: 0700")),
    ("mode-not-octal", lambda e: edit(e / "shares.yaml", 'mode: "2770"', 'mode: "0800"')),
    ("network-key-not-a-region", lambda e: edit(e / "research.yaml", "    us-west-2:\n",
                                                "    us-west2:\n")),
    ("value-of-wrong-type", lambda e: edit(e / "research.yaml",
                                           "  shares: [home, team, datasets]\n",
                                           "  shares: home\n")),
    ("unknown-kind", lambda e: edit(e / "research.yaml",
                                    "kind: UserProfile\nmetadata:\n  name: bob",
                                    "kind: Userprofile\nmetadata:\n  name: bob")),
    ("unknown-api-version", lambda e: edit(
        e / "shares.yaml", f"apiVersion: {API_VERSION}\nkind: Share\nmetadata:\n  name: team",
        "apiVersion: v1\nkind: Share\nmetadata:\n  name: team")),
    # Cross-document rules (test_cross_document_rules)
    ("no-estate", lambda e: (e / "estate.yaml").unlink()),
    ("second-estate", _second_estate),
    ("active-region-elsewhere", lambda e: edit(e / "estate.yaml", "activeRegion: us-east-1",
                                               "activeRegion: eu-west-1")),
    ("primary-equals-replica", lambda e: edit(e / "estate.yaml", "replica: us-west-2",
                                              "replica: us-east-1")),
    ("share-on-undeclared-file-system", lambda e: edit(
        e / "shares.yaml", "  fileSystem: studio-efs\n  scope: domain",
        "  fileSystem: studio-fs\n  scope: domain")),
    ("domain-lists-undeclared-share", lambda e: edit(
        e / "research.yaml", "shares: [home, team, datasets]", "shares: [home, teams, datasets]")),
    ("profile-in-undeclared-domain", lambda e: edit(
        e / "research.yaml", "name: carol\nspec:\n  domain: research",
        "name: carol\nspec:\n  domain: science")),
    ("profile-adds-organisation-share", lambda e: edit(
        e / "analytics.yaml", "{name: erin, uid: 200202, gid: 1001}",
        "{name: erin, uid: 200202, gid: 1001, shares: [datasets]}")),
    ("space-backup-share-undeclared", lambda e: edit(
        e / "research.yaml", "  apps: [JupyterLab, CodeEditor]\n",
        "  apps: [JupyterLab, CodeEditor]\n  spaceBackup:\n    share: backups\n")),
    ("duplicate-share-name", lambda e: add_share(e, "team", "domain", "/groups/{domain}")),
    ("duplicate-profile", lambda e: write(e / "dave.yaml", """
        apiVersion: studio-operator.io/v1alpha1
        kind: UserProfile
        metadata:
          name: dave
        spec:
          domain: analytics
          posix: {uid: 200299, gid: 1001}
        """)),
    ("shared-uid-on-one-file-system", lambda e: edit(
        e / "analytics.yaml", "{name: erin, uid: 200202", "{name: erin, uid: 200102")),
    ("share-path-with-dot-dot", lambda e: (add_share(e, "extra", "organisation",
                                                     "/shared/../etc"),
                                           _attach(e, "extra"))),
    ("share-path-relative", lambda e: (add_share(e, "extra", "organisation", "shared/data"),
                                       _attach(e, "extra"))),
    ("two-profiles-one-directory", lambda e: (
        edit(e / "shares.yaml", "path: /home/{domain}/{profile}", "path: /home/{profile}"),
        edit(e / "analytics.yaml", GRACE_ROW, GRACE_ROW + ALICE_ROW))),
    ("domain-without-a-network-in-a-region", lambda e: edit(e / "research.yaml", """\
    us-west-2:
      vpc: studio-vpc
      subnets: [studio-private-a, studio-private-b]
      securityGroups: [studio-nfs]
      nfsSecurityGroup: studio-nfs
---""", "---")),
    ("placement-both-id-and-tag", lambda e: edit(
        e / "filesystems.yaml", "    us-east-1:\n      nameTag: studio-efs",
        "    us-east-1: {fileSystemId: fs-0123456789abcdef0, nameTag: studio-efs}")),
    ("placement-outside-estate-regions", lambda e: edit(
        e / "filesystems.yaml", "      nameTag: studio-efs\n",
        "      nameTag: studio-efs\n    eu-west-1: {nameTag: studio-efs}\n")),
    ("unreplicated-file-system-in-one-region", lambda e: edit(
        e / "filesystems.yaml", "replicate: true", "replicate: false")),
    # Nesting and the space-backup root (test_nested_share_paths, test_space_backup_share)
    ("team-share-above-the-homes", lambda e: (add_share(e, "everyone", "domain",
                                                        "/home/{domain}"),
                                              _attach(e, "everyone"))),
    ("share-inside-a-home", lambda e: (add_share(e, "sneaky", "organisation",
                                                 "/home/research/bob/inbox"),
                                       _attach(e, "sneaky", "analytics"))),
    ("share-in-the-recovery-folder", lambda e: (add_share(e, "reserved", "organisation",
                                                          "/.studio-operator-recovery/x"),
                                                _attach(e, "reserved"))),
    ("backup-root-others-can-write", lambda e: _backup_share(e, "0777")),
]
