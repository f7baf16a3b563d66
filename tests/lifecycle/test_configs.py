"""Lifecycle config requests for a domain, and the settings fragment that attaches them."""

from __future__ import annotations

import base64
import re

import pytest

from controller.lifecycle import (
    LIFECYCLE_CONTENT_LIMIT,
    app_settings_with_lifecycle,
    lifecycle_configs,
    space_start_script,
)
from controller.lifecycle.configs import config_name, settings_for
from controller.model import (
    DomainSpec,
    NetworkSpec,
    ShareScope,
    ShareSpec,
    SpaceBackupSpec,
)

FS_ID = "fs-0123456789abcdef0"
NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
SHARE = ShareSpec("space-backups", "team-efs", ShareScope.DOMAIN, "/backups/{domain}")


def domain(name: str = "research", **kwargs) -> DomainSpec:
    return DomainSpec(name, "studio-role", {"eu-west-1": NetworkSpec("vpc", ("subnet-a",))},
                      space_backup=SpaceBackupSpec(True, "space-backups"), **kwargs)


def test_one_config_per_app_type_with_valid_deterministic_names() -> None:
    configs = lifecycle_configs(domain(), SHARE, FS_ID)
    again = lifecycle_configs(domain(), SHARE, FS_ID)

    assert [c.app_type for c in configs] == ["JupyterLab", "CodeEditor"]
    assert [c.name for c in configs] == [c.name for c in again]
    assert len({c.name for c in configs}) == 2
    for config in configs:
        assert NAME.fullmatch(config.name) and len(config.name) <= 63
        assert config.name.startswith("studio-op-research-")


def test_a_changed_script_gets_a_new_name() -> None:
    before = lifecycle_configs(domain(), SHARE, FS_ID)
    other_fs = lifecycle_configs(domain(), SHARE, "fs-0123456789abcdef1")

    assert {c.name for c in before}.isdisjoint(c.name for c in other_fs)
    script = before[0].script
    assert config_name("research", "JupyterLab", script) == before[0].name
    assert config_name("research", "JupyterLab", script + "\n") != before[0].name


def test_content_decodes_to_the_script_and_fits_the_limit() -> None:
    expected = space_start_script(settings_for(domain(), SHARE, FS_ID))
    for config in lifecycle_configs(domain(), SHARE, FS_ID):
        request = config.request()
        assert set(request) == {"StudioLifecycleConfigName", "StudioLifecycleConfigContent",
                                "StudioLifecycleConfigAppType"}
        assert base64.b64decode(request["StudioLifecycleConfigContent"]).decode() == expected
        assert len(request["StudioLifecycleConfigContent"]) <= LIFECYCLE_CONTENT_LIMIT
        assert "SHARE_SUBDIR=\n" in expected  # the share attaches at its own root


def test_long_domain_names_are_cut_to_fit() -> None:
    configs = lifecycle_configs(domain("d" * 40 + "-" + "e" * 22), SHARE, FS_ID)
    for config in configs:
        assert NAME.fullmatch(config.name) and len(config.name) <= 63


def test_no_configs_when_backup_is_off_and_only_for_the_domains_apps() -> None:
    off = DomainSpec("research", "role", {}, space_backup=SpaceBackupSpec(False))
    assert lifecycle_configs(off, SHARE, FS_ID) == []
    only_lab = lifecycle_configs(domain(apps=("JupyterLab",)), SHARE, FS_ID)
    assert [c.app_type for c in only_lab] == ["JupyterLab"]


def test_user_scope_or_wrong_share_is_refused() -> None:
    per_user = ShareSpec("space-backups", "team-efs", ShareScope.USER, "/home/{profile}")
    with pytest.raises(ValueError, match="one root per domain"):
        lifecycle_configs(domain(), per_user, FS_ID)
    other = ShareSpec("other", "team-efs", ShareScope.DOMAIN, "/other")
    with pytest.raises(ValueError, match="not other"):
        lifecycle_configs(domain(), other, FS_ID)


def test_app_settings_attach_each_config_as_its_apps_default() -> None:
    configs = lifecycle_configs(domain(), SHARE, FS_ID)
    lab, editor = configs

    # ARNs come from AWS (here: a GovCloud-like partition), never built by the operator.
    prefix = "arn:aws-us-gov:sagemaker:us-gov-west-1:123456789012:studio-lifecycle-config/"
    fragment = app_settings_with_lifecycle(configs, lambda name: prefix + name)

    assert fragment == {
        "JupyterLabAppSettings": {
            "LifecycleConfigArns": [prefix + lab.name],
            "DefaultResourceSpec": {"LifecycleConfigArn": prefix + lab.name},
        },
        "CodeEditorAppSettings": {
            "LifecycleConfigArns": [prefix + editor.name],
            "DefaultResourceSpec": {"LifecycleConfigArn": prefix + editor.name},
        },
    }
    assert app_settings_with_lifecycle([], lambda name: prefix + name) == {}
