"""The preflight answers "if the flag flipped now, would the failover work?": a ready
estate passes every check, and breaking one thing at a time on the emulator fails exactly
the check that covers it, with a message that names what is wrong."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest

from controller.emulator.prepare_events import TRAIL_NAME
from controller.preflight import CHECK_NAMES, PASSABLE_ROLES_ENV, Status, run_preflight
from controller.preflight.region_checks import may_pass
from controller.preflight.report import EXIT_NOT_READY, EXIT_READY, EXIT_UNKNOWN
from controller.status.store import DEFAULT_TABLE
from tests.preflight.helpers import PRIMARY, STANDBY, ReadyEstate, failing, ready_estate


@pytest.fixture
def estate(aws) -> ReadyEstate:
    return ready_estate(aws)


def test_a_converged_estate_with_a_live_standby_controller_is_ready(estate):
    report = estate.check()
    assert [r.check for r in report.results] == list(CHECK_NAMES)
    assert failing(report) == {}
    assert not [r for r in report.results if r.status is Status.SKIP]
    bucket = next(r for r in report.results if r.check == "snapshot_bucket")
    assert bucket.details == ("SnapshotPolicy/nightly: bucket studio-snapshots-us-west-2 can "
                              "be reached",)
    assert report.ready and report.exit_code == EXIT_READY
    replica = estate.file_system_id(STANDBY)
    exists = next(r for r in report.results if r.check == "replica_exists")
    assert exists.details == (f"studio-efs: {replica} in {STANDBY} replicates from "
                              f"{estate.file_system_id(PRIMARY)} in {PRIMARY} (ENABLED)",)
    mounts = next(r for r in report.results if r.check == "mount_targets")
    assert mounts.details == (f"studio-efs ({replica}): 0 mount target(s) exist, 2 would be "
                              "created",)


def _no_replication(estate: ReadyEstate) -> None:
    efs = estate.client("efs", PRIMARY)
    efs.delete_replication_configuration(SourceFileSystemId=estate.file_system_id(PRIMARY))


def _replica_untagged(estate: ReadyEstate) -> None:
    estate.client("efs").untag_resource(ResourceId=estate.file_system_id(STANDBY),
                                        TagKeys=["Name"])


def _subnet_untagged(estate: ReadyEstate) -> None:
    ec2 = estate.client("ec2")
    subnet = ec2.describe_subnets(Filters=[{"Name": "tag:Name",
                                            "Values": ["studio-private-b"]}])["Subnets"][0]
    ec2.delete_tags(Resources=[subnet["SubnetId"]], Tags=[{"Key": "Name"}])


def _lease_released(estate: ReadyEstate) -> None:
    estate.client("dynamodb").delete_item(TableName=DEFAULT_TABLE, Key={"pk": {"S": "lease"}})


def _lease_run_out(estate: ReadyEstate) -> None:
    _lease_released(estate)
    estate.hold_standby_lease(at=time.time() - 600, holder="standby-b")


def _role_trusts_ec2_only(estate: ReadyEstate) -> None:
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}
    estate.client("iam").update_assume_role_policy(RoleName="studio-execution-role",
                                                   PolicyDocument=json.dumps(trust))


def _role_deleted(estate: ReadyEstate) -> None:
    estate.client("iam").delete_role(RoleName="studio-execution-role")


def _trail_stopped(estate: ReadyEstate) -> None:
    estate.client("cloudtrail", PRIMARY).stop_logging(Name=TRAIL_NAME)  # its home region


def _mount_target_quota_used_up(estate: ReadyEstate) -> None:
    estate.aws.set_service_quota("elasticfilesystem", "L-7391004C", 1, region=STANDBY)


BREAKS = {
    "replica_exists": (_no_replication, f"studio-efs: {{primary}} in {PRIMARY} does not "
                                        f"replicate to {STANDBY}"),
    "replica_name_tag": (_replica_untagged, f"studio-efs: no file system in {STANDBY} is found "
                                            "by Name=studio-efs: {replica}'s Name is missing"),
    "mount_targets": (_subnet_untagged, "Domain/analytics: subnet studio-private-b not found in "
                                        "studio-vpc | Domain/research: subnet studio-private-b "
                                        "not found in studio-vpc"),
    "standby_controller": (_lease_released, f"nobody holds the lease in {DEFAULT_TABLE} in "
                                            f"{STANDBY}: no controller runs there, or it runs "
                                            "with --lease-seconds 0"),
    "execution_role": (_role_trusts_ec2_only, "role arn:aws:iam::123456789012:role/"
                                              "studio-execution-role (Domain/analytics, "
                                              "Domain/research) does not let "
                                              "sagemaker.amazonaws.com assume it"),
    "event_trail": (_trail_stopped, f"trail {TRAIL_NAME}: logging is off | changes made "
                                    "outside git would wait for the resync"),
    "quotas": (_mount_target_quota_used_up, "EFS mount targets (counted over the region: an "
                                            f"upper bound of one VPC's): 0 in {STANDBY} + 2 a "
                                            "failover makes, quota 1 (Service Quotas "
                                            "L-7391004C)"),
}


@pytest.mark.parametrize("check", sorted(BREAKS))
def test_breaking_one_thing_fails_only_the_check_that_covers_it(estate, check):
    ids = {"primary": estate.file_system_id(PRIMARY), "replica": estate.file_system_id(STANDBY)}
    brake, message = BREAKS[check]
    brake(estate)
    report = estate.check()
    failed = {r.check for r in report.results if r.status is Status.FAIL}
    assert failed == {check}
    assert message.format(**ids) in failing(report)[check]
    assert report.exit_code == EXIT_NOT_READY
    result = next(r for r in report.results if r.check == check)
    assert result.remedy, "a failing check says what to do"


def test_a_replica_behind_its_threshold_fails_only_replica_in_sync(estate):
    later = time.time() + 4000  # nothing replicates meanwhile: the lag grows
    estate.hold_standby_lease(at=later)  # the standby's controller is still alive then
    with estate.aws.replication_paused():
        report = estate.check(now=later)
    assert {r.check for r in report.results if r.status is Status.FAIL} == {"replica_in_sync"}
    assert "s behind its source (threshold 1,800 s; caught up last at " in failing(report)[
        "replica_in_sync"]
    assert failing(report)["replica_in_sync"].startswith(
        f"studio-efs: {estate.file_system_id(STANDBY)} is 4,0")


def test_a_lease_that_ran_out_fails_the_standby_controller_check_with_its_holder(estate):
    _lease_run_out(estate)
    report = estate.check()
    assert {r.check for r in report.results if r.status is Status.FAIL} == {
        "standby_controller"}
    assert failing(report)["standby_controller"].startswith(
        f"the lease of standby-b in {DEFAULT_TABLE} in {STANDBY} ran out ")


def test_a_deleted_execution_role_fails_only_the_role_check(estate):
    _role_deleted(estate)
    report = estate.check()
    assert {r.check for r in report.results if r.status is Status.FAIL} == {"execution_role"}
    assert failing(report)["execution_role"] == (
        "role studio-execution-role (Domain/analytics, Domain/research) does not exist in "
        "this account")


def test_the_name_tag_on_another_file_system_is_named_as_the_one_a_failover_would_take(estate):
    efs = estate.client("efs")
    _replica_untagged(estate)
    decoy = efs.create_file_system(CreationToken="decoy", Tags=[{"Key": "Name",
                                                                 "Value": "studio-efs"}])
    report = estate.check()
    assert {r.check for r in report.results if r.status is Status.FAIL} == {"replica_name_tag"}
    assert failing(report)["replica_name_tag"] == (
        f"studio-efs: Name=studio-efs is on {decoy['FileSystemId']}, not on the replica "
        f"{_replica_id(estate)}: the failover would take "
        "that one over")


def _replica_id(estate: ReadyEstate) -> str:
    efs = estate.client("efs", PRIMARY)
    config = efs.describe_replication_configurations(
        FileSystemId=estate.file_system_id(PRIMARY))["Replications"][0]
    return str(config["Destinations"][0]["FileSystemId"])


def test_a_target_region_that_cannot_be_read_is_unknown_not_ready_or_not(estate):
    estate.aws.set_faults(1.0, kinds=("5xx",), regions={STANDBY})
    report = estate.check()
    assert report.exit_code == EXIT_UNKNOWN and not report.failing
    assert {r.check for r in report.results if r.status is Status.ERROR} >= {
        "replica_exists", "mount_targets", "standby_controller", "quotas"}
    assert "could not read us-west-2: " in failing(report)["replica_exists"]


def test_an_active_region_outage_is_what_failover_is_for_the_target_alone_is_judged(estate):
    estate.aws.set_faults(1.0, kinds=("5xx",), regions={PRIMARY})
    report = estate.check()
    assert report.exit_code == EXIT_READY, failing(report)
    exists = next(r for r in report.results if r.check == "replica_exists")
    assert exists.details[0].endswith(f"({PRIMARY} could not be read: judged from the target "
                                      "alone)")


def test_throttling_is_retried_and_does_not_change_the_answer(estate):
    estate.gateway = type(estate.gateway)(endpoint_url=estate.aws.endpoint_url, max_attempts=8)
    estate.aws.set_faults(0.3, kinds=("throttle",), seed=7)
    report = estate.check()
    assert report.exit_code == EXIT_READY, failing(report)
    assert sum(n for key, n in estate.aws.request_counts().items()) > 0


TRUSTS_SAGEMAKER = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})
ACCOUNT = "123456789012"
STACK_GRANTS = (f"arn:aws:iam::{ACCOUNT}:role/studio-execution-role",
                f"arn:aws:iam::{ACCOUNT}:role/studio/*")


def _with_own_role(desired, profile: str, role: str):  # type: ignore[no-untyped-def]
    spec = desired.profiles[profile]
    return replace(desired, profiles={**desired.profiles, profile: replace(
        spec, settings=replace(spec.settings, execution_role=role))})


def test_a_profiles_own_role_is_checked_to_exist_trust_sagemaker_and_be_passable(estate):
    iam = estate.client("iam")
    iam.create_role(RoleName="carol-studio", Path="/studio/",
                    AssumeRolePolicyDocument=TRUSTS_SAGEMAKER)
    iam.create_role(RoleName="dave-elsewhere", Path="/other/",
                    AssumeRolePolicyDocument=TRUSTS_SAGEMAKER)
    desired = _with_own_role(estate.desired, "research/carol", "carol-studio")
    report = run_preflight(estate.gateway, desired, STANDBY, DEFAULT_TABLE,
                           passable=STACK_GRANTS)
    assert failing(report) == {}
    role = next(r for r in report.results if r.check == "execution_role")
    assert (f"role arn:aws:iam::{ACCOUNT}:role/studio/carol-studio (UserProfile/research/"
            "carol) exists and trusts SageMaker, and the controller may pass it") in role.details

    # A role outside what the stack lets the controller pass: CreateUserProfile would be
    # refused on AWS (AccessDenied on iam:PassRole), so the failover would fail there.
    desired = _with_own_role(desired, "analytics/dave", "dave-elsewhere")
    report = run_preflight(estate.gateway, desired, STANDBY, DEFAULT_TABLE,
                           passable=STACK_GRANTS)
    assert set(failing(report)) == {"execution_role"}
    assert (f"role arn:aws:iam::{ACCOUNT}:role/other/dave-elsewhere (UserProfile/analytics/"
            "dave) is not one the controller may pass to SageMaker (iam:PassRole)"
            ) in failing(report)["execution_role"]

    # Missing, or an ARN of another account: named with the profile that names it.
    desired = _with_own_role(desired, "analytics/dave",
                             "arn:aws:iam::999999999999:role/studio/carol-studio")
    desired = _with_own_role(desired, "research/bob", "nobody-made-me")
    report = run_preflight(estate.gateway, desired, STANDBY, DEFAULT_TABLE,
                           passable=STACK_GRANTS)
    details = failing(report)["execution_role"]
    assert ("role arn:aws:iam::999999999999:role/studio/carol-studio (UserProfile/analytics/"
            "dave) does not exist in this account") in details
    assert "role nobody-made-me (UserProfile/research/bob) does not exist in this account" in (
        details)


def test_the_passable_roles_come_from_the_stacks_environment(estate, monkeypatch):
    estate.client("iam").create_role(RoleName="carol-studio", Path="/studio/",
                                     AssumeRolePolicyDocument=TRUSTS_SAGEMAKER)
    desired = _with_own_role(estate.desired, "research/carol", "carol-studio")
    monkeypatch.setenv(PASSABLE_ROLES_ENV, STACK_GRANTS[0])
    assert ("carol-studio (UserProfile/research/carol) is not one the controller may pass "
            "to SageMaker (iam:PassRole)") in failing(estate.check(desired=desired))[
        "execution_role"]
    monkeypatch.setenv(PASSABLE_ROLES_ENV, ",".join(STACK_GRANTS))
    assert failing(estate.check(desired=desired)) == {}


def test_iam_wildcards_in_the_passable_roles():
    arn = f"arn:aws:iam::{ACCOUNT}:role/studio/team-a/carol"
    assert may_pass((f"arn:aws:iam::{ACCOUNT}:role/studio/*",), arn), "* crosses a /"
    assert may_pass((f"arn:aws:iam::{ACCOUNT}:role/studio/team-?/carol",), arn)
    assert not may_pass((f"arn:aws:iam::{ACCOUNT}:role/Studio/*",), arn), "case-sensitive"
    assert not may_pass((f"arn:aws:iam::{ACCOUNT}:role/studio",), arn)
    assert not may_pass((f"arn:aws:iam::{ACCOUNT}:role/studio/team-?/carol.x",), arn)
    assert not may_pass(("arn:aws:iam::1234567890.2:role/studio/*",), arn), "a dot is a dot"
    assert not may_pass((), arn)


def test_a_trail_of_read_events_only_or_none_at_all_fails_the_event_trail_check(estate):
    cloudtrail = estate.client("cloudtrail", PRIMARY)
    cloudtrail.put_event_selectors(TrailName=TRAIL_NAME, EventSelectors=[
        {"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}])
    assert failing(estate.check()) == {"event_trail": (
        f"trail {TRAIL_NAME}: records no management write events | changes made outside "
        "git would wait for the resync")}
    cloudtrail.put_event_selectors(TrailName=TRAIL_NAME, AdvancedEventSelectors=[
        {"Name": "management writes", "FieldSelectors": [
            {"Field": "eventCategory", "Equals": ["Management"]},
            {"Field": "readOnly", "Equals": ["false"]}]}])
    assert failing(estate.check()) == {}
    cloudtrail.delete_trail(Name=TRAIL_NAME)
    report = estate.check()
    assert failing(report) == {"event_trail": (
        f"no CloudTrail trail covers {STANDBY} | changes made outside git would wait for "
        "the resync")}
    assert report.exit_code == EXIT_NOT_READY
