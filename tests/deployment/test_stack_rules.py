"""The controller stack's Rules, evaluated as CloudFormation evaluates them before it
makes anything: a rule whose RuleCondition holds must have every Assertion hold, or the
stack is refused with the AssertDescription. Only the functions the template's rules use
are understood (Ref, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Fn::Contains); anything else
fails loudly."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deployment.test_controller_template import load_template

SUBNETS = ["subnet-0aa", "subnet-0bb"]


def evaluate(value: Any, parameters: dict[str, Any]) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((name, args),) = value.items()
        if name == "Ref":
            return parameters[args]
        if name.startswith("Fn::"):
            args = [evaluate(a, parameters) for a in args]
            if name == "Fn::Equals":
                return args[0] == args[1]
            if name == "Fn::Not":
                return not args[0]
            if name == "Fn::And":
                return all(args)
            if name == "Fn::Or":
                return any(args)
            if name == "Fn::Contains":
                return args[1] in args[0]
            raise ValueError(f"{name} is not understood here")
    return value


def refusals(parameters: dict[str, Any]) -> list[str]:
    """The AssertDescriptions of the assertions that fail with these parameter values."""
    failed = []
    for rule in load_template().get("Rules", {}).values():
        if not evaluate(rule.get("RuleCondition", True), parameters):
            continue
        failed += [a["AssertDescription"] for a in rule["Assertions"]
                   if not evaluate(a["Assert"], parameters)]
    return failed


def test_the_datasync_subnet_rule_exists_and_uses_contains():
    rule = load_template()["Rules"]["DataSyncSubnetIsOneOfSubnetIds"]
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Contains": [{"Ref": "SubnetIds"},
                                                    {"Ref": "DataSyncSubnetId"}]}


@pytest.mark.parametrize("datasync_subnet", ["", "subnet-0aa", "subnet-0bb"])
def test_no_datasync_or_a_datasync_subnet_among_the_subnets_is_accepted(datasync_subnet):
    assert refusals({"SubnetIds": SUBNETS, "DataSyncSubnetId": datasync_subnet}) == []


def test_a_datasync_subnet_not_among_the_subnets_is_refused_with_what_to_do():
    (message,) = refusals({"SubnetIds": SUBNETS, "DataSyncSubnetId": "subnet-0cc"})
    assert "DataSyncSubnetId must be one of SubnetIds" in message
    assert "leave DataSyncSubnetId empty" in message
