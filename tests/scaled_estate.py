"""The example estate with as many profiles as a test needs, written as YAML files.

The estate, file system and shares of desired_state/, and DOMAINS domains with compact
profile tables (unique POSIX uids), in the shape of desired_state/analytics.yaml. The one
generator of scaled estates: the tests and the benchmarks (bench/) both use it.
"""

from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "desired_state"
NETWORK = ("      vpc: studio-vpc\n      subnets: [studio-private-a, studio-private-b]\n"
           "      securityGroups: [studio-nfs]\n")
NFS_GROUP = "      nfsSecurityGroup: studio-nfs\n"


def write_estate(folder: Path, domains: int, profiles: int,
                 nfs_security_group: bool = True) -> Path:
    """`nfs_security_group` False: the domains name no NFS security group, so the
    operator makes its own (the failover drill's estate)."""
    folder.mkdir(parents=True, exist_ok=True)
    network = NETWORK + (NFS_GROUP if nfs_security_group else "")
    for name in ("estate.yaml", "filesystems.yaml", "shares.yaml"):
        (folder / name).write_text((EXAMPLE / name).read_text())
    uid = 300000
    for index in range(domains):
        rows = []
        for member in range(profiles // domains + (index < profiles % domains)):
            uid += 1
            rows.append(f"    - {{name: user-{index}-{member}, uid: {uid}, gid: 1001}}")
        (folder / f"domain-{index}.yaml").write_text(
            "apiVersion: studio-operator.io/v1alpha1\nkind: Domain\n"
            f"metadata:\n  name: team-{index}\nspec:\n  authMode: IAM\n"
            "  executionRole: studio-execution-role\n"
            "  shares: [home, team, datasets]\n  apps: [JupyterLab, CodeEditor]\n"
            f"  network:\n    us-east-1:\n{network}    us-west-2:\n{network}"
            "  profiles:\n" + "\n".join(rows) + "\n")
    return folder
