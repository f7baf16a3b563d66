"""The diff looks only at the fields the desired state sets."""

from controller.plan.diff import scoped_diff
from controller.plan.types import Difference, Ref


def test_fields_aws_adds_on_its_own_are_not_drift():
    desired = {"UserSettings": {"CustomPosixUserConfig": {"Uid": 200101, "Gid": 1001}}}
    observed = {"UserSettings": {"CustomPosixUserConfig": {"Uid": 200101, "Gid": 1001},
                                 "StudioWebPortal": "ENABLED"},
                "CreationTime": "2026-01-01"}
    assert scoped_diff(desired, observed) == []


def test_a_changed_nested_field_is_reported_with_its_path():
    desired = {"UserSettings": {"CustomPosixUserConfig": {"Uid": 200102, "Gid": 1001}}}
    observed = {"UserSettings": {"CustomPosixUserConfig": {"Uid": 200101, "Gid": 1001}}}
    assert scoped_diff(desired, observed) == [
        Difference("UserSettings.CustomPosixUserConfig.Uid", 200102, 200101)]


def test_lists_that_are_sets_in_meaning_ignore_order():
    assert scoped_diff({"SubnetIds": ["subnet-a", "subnet-b"]},
                       {"SubnetIds": ["subnet-b", "subnet-a"]}) == []
    assert scoped_diff({"SubnetIds": ["subnet-a"]}, {"SubnetIds": ["subnet-b"]}) != []


def test_an_empty_list_equals_a_list_aws_omits_but_a_missing_value_does_not():
    assert scoped_diff({"CustomFileSystemConfigs": []}, {}) == []
    assert scoped_diff({"AuthMode": "IAM"}, {}) == [Difference("AuthMode", "IAM", None)]


def test_a_value_known_only_after_apply_always_differs():
    ref = Ref("FileSystem", "efs", "FileSystemId")
    assert scoped_diff({"FileSystemId": ref}, {"FileSystemId": "fs-1"}) != []
