"""The migration's pure parts: the new instance's name, the owner maps, the record."""

from __future__ import annotations

from dataclasses import replace

from controller.notebooks.migration import (
    HOLD_SECONDS,
    NotebookMigration,
    held_snapshots,
    map_tag,
    new_instance_name,
    owner_maps,
)
from controller.notebooks.spec import NotebookInstanceSpec, NotebookMigrationSpec


def spec(**migration: object) -> NotebookInstanceSpec:
    return NotebookInstanceSpec("research-nb", "ml.t3.medium", "role",
                                migration=NotebookMigrationSpec(**migration))  # type: ignore[arg-type]


def test_the_new_instance_gets_the_next_generation_number_or_the_name_given() -> None:
    assert new_instance_name(spec(), "research-nb") == "research-nb-2"
    assert new_instance_name(spec(), "research-nb-2") == "research-nb-3"
    assert new_instance_name(spec(), "research-nb-41") == "research-nb-42"
    assert new_instance_name(spec(instance_name="lab-2024"), "research-nb") == "lab-2024"


def test_ec2_users_ids_move_only_between_generations_and_the_spec_adds_its_own() -> None:
    assert owner_maps(spec(), "notebook-al1-v1", "notebook-al2-v3") == ({500: 1000},
                                                                       {500: 1000})
    assert owner_maps(spec(), "notebook-al2-v2", "notebook-al2023-v1") == ({}, {})
    uids, gids = owner_maps(spec(uid_map={501: 1001, 500: 1500}, gid_map={100: 1000}),
                            "notebook-al1-v1", "notebook-al2-v3")
    assert (uids, gids) == ({500: 1500, 501: 1001}, {500: 1000, 100: 1000})
    assert map_tag(uids) == "500:1500 501:1001"


def test_the_record_survives_its_item_and_names_the_current_instance() -> None:
    record = NotebookMigration("research-nb", "Restoring", "research-nb", "research-nb-2",
                               "notebook-al1-v1", "notebook-al2-v3", "sha256:1", 10.0, 11.0,
                               9.5, "nightly/notebook/research-nb/20261126T070000Z-abcd",
                               0.0, 12.0, "nightly/notebook/research-nb/20261126T080000Z-beef")
    assert NotebookMigration.from_item(record.to_item()) == record
    assert record.current_instance == "research-nb"
    done = NotebookMigration.from_item({**record.to_item(), "phase": "Complete"})
    assert done.current_instance == "research-nb-2"


def test_a_migrations_snapshots_are_held_until_a_time_after_it_completed() -> None:
    first, final = ("nightly/notebook/research-nb/20261126T070000Z-abcd",
                    "nightly/notebook/research-nb/20261126T080000Z-beef")
    under_way = NotebookMigration("research-nb", "Sealing", "research-nb", "research-nb-2",
                                  snapshot=first, final_snapshot=final)
    done = replace(under_way, phase="Complete", completed_at=1000.0)
    other = replace(under_way, notebook="other", snapshot="", final_snapshot="")
    assert held_snapshots([under_way, other], 1e12) == {first, final}
    assert held_snapshots([done], 1000.0 + HOLD_SECONDS - 1) == {first, final}
    assert held_snapshots([done], 1000.0 + HOLD_SECONDS) == frozenset()
