"""Share directories: create them, correct them, re-own them, or say why not. Pure.

Who may be given a directory that already exists? The operator changes owners as root
on a file system its users write to, so a directory is handed to its owner only when
nothing in it can be someone else's doing:

- it is missing: the operator makes it (CreateDirectory);
- it is owned by the desired uid already: only its gid and mode are corrected;
- the profile's POSIX ids are changing (the desired ids differ from the ids SageMaker
  still holds for the profile, its observed CustomPosixUserConfig) and the directory
  belongs to that profile under the old ids or the new: the whole tree is re-owned
  (ReownHome): every entry owned by the previous uid gets the new ids, entries owned by
  anyone else are left and reported, and the top folder is done last, so that a pass
  cut short is finished by the next (its previous ids are still in SageMaker, because
  the profile's UpdateUserProfile waits until its directories are re-owned);
- the desired owner is root (a space-backup root): taking a folder back gives no user
  anything, so it is corrected;
- it is owned by root and empty: the operator's own creation cut short, corrected;
- anything else, a directory some other user made or owns: reported as a problem naming
  its owner and path, and left exactly as it is. Handing it over would give alice
  whatever another user put in it (his .bashrc in her home).

Re-owning is counted only while a change is pending (observe counts the entries then),
so an idle pass walks no home. Without root, owners are not managed: only modes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from controller.model import ShareDirectory
from controller.observed import HomeCensus, ObservedDirectory, ObservedState
from controller.plan.shapes import Shapes
from controller.plan.types import Action, Difference, Kind, Ref, ResourceKey, Verb

REOWNED = "Reowned"  # what ReownHome learns, and UpdateUserProfile waits for


def plan_share_directories(shapes: Shapes, observed: ObservedState, actions: list[Action],
                           notes: list[str], promoting: set[str]) -> None:
    for wanted in shapes.desired.share_directories():
        if wanted.file_system in promoting:
            continue
        fs_id = shapes.file_system_id(wanted.file_system)
        if fs_id is None:
            continue  # Shapes has said why, for the domains and profiles that use it
        key = ResourceKey(Kind.DIRECTORY, observed.region, wanted.key_name)
        seen = observed.directories.get((wanted.file_system, wanted.path))
        params = {"FileSystemId": fs_id, "Path": wanted.path, "Uid": wanted.owner.uid,
                  "Gid": wanted.owner.gid, "Mode": f"{wanted.mode:04o}", "Share": wanted.share}
        if seen is None or seen.kind == "missing":
            actions.append(Action("CreateDirectory", Verb.CREATE, key,
                                  _changes(wanted, None), params))
        elif seen.kind != "directory":
            shapes.problems.append(
                f"Directory/{wanted.key_name}: {seen.blocked_at or wanted.path} is a "
                f"{seen.kind}, not a directory; it is left alone (never followed)")
        elif not observed.can_set_owners:
            changes = tuple(c for c in _changes(wanted, seen) if c.path == "Mode")
            if changes:
                actions.append(Action("SetDirectoryOwnership", Verb.UPDATE, key, changes,
                                      params))
        elif (census := _changing(wanted, seen)) is not None:
            _reown(wanted, seen, census, key, params, actions, notes)
        elif (problem := _not_handed_over(wanted, seen)) is not None:
            shapes.problems.append(problem)
        elif changes := _changes(wanted, seen):
            actions.append(Action("SetDirectoryOwnership", Verb.UPDATE, key, changes, params))


def hold_profile_updates(actions: list[Action]) -> None:
    """A profile's UpdateUserProfile waits for the re-owning of its directories in the
    same pass: once SageMaker holds the new ids, the old ones are known nowhere else."""
    waits: dict[str, list[Ref]] = {}
    for action in actions:
        if action.name == "ReownHome":
            waits.setdefault(action.params["Profile"], []).append(
                Ref(Kind.DIRECTORY, action.key.name, REOWNED))
    for index, action in enumerate(actions):
        if action.name == "UpdateUserProfile" and action.key.name in waits:
            actions[index] = replace(action, after=(*action.after, *waits[action.key.name]))


def _changing(wanted: ShareDirectory, seen: ObservedDirectory) -> HomeCensus | None:
    """The census when the profile's ids are changing and the directory is the
    profile's, under its old ids or its new."""
    census = seen.census
    if census is None or wanted.profile is None:
        return None
    return census if seen.uid in (census.previous_uid, wanted.owner.uid) else None


def _reown(wanted: ShareDirectory, seen: ObservedDirectory, census: HomeCensus,
           key: ResourceKey, params: Mapping[str, object], actions: list[Action],
           notes: list[str]) -> None:
    top = _changes(wanted, seen)
    if not census.to_reown and not top:
        return
    previous = f"{census.previous_uid}:{census.previous_gid}"
    new = f"{wanted.owner.uid}:{wanted.owner.gid}"
    changes = (*top, Difference("Entries", f"{census.to_reown} re-owned to {new}",
                                f"{census.to_reown} owned by uid {census.previous_uid}"))
    actions.append(Action("ReownHome", Verb.UPDATE, key, changes, {
        **params, "PreviousUid": census.previous_uid, "PreviousGid": census.previous_gid,
        "Profile": wanted.profile, "Entries": census.to_reown}))
    left = []
    if census.others:
        left.append(f"{census.others} owned by others (such as "
                    f"{', '.join(census.examples)})")
    if census.linked:
        left.append(f"{census.linked} file(s) of uid {census.previous_uid} with hard links "
                    "from outside it")
    if left:
        notes.append(f"Directory/{wanted.key_name}: ids {previous} -> {new} for "
                     f"{wanted.profile}; entries left as they are: {'; '.join(left)}")


def _not_handed_over(wanted: ShareDirectory, seen: ObservedDirectory) -> str | None:
    """None when the directory may be corrected to its desired owner, else why not."""
    if seen.uid == wanted.owner.uid or wanted.owner.uid == 0:
        return None
    if seen.uid == 0 and seen.empty:
        return None
    whose = f"profile {wanted.profile}" if wanted.profile else f"share {wanted.share}"
    content = "empty" if seen.empty else "not empty"
    return (f"Directory/{wanted.key_name}: {wanted.path} exists owned by {seen.uid}:{seen.gid} "
            f"({content}), not by {whose} ({wanted.owner.uid}:{wanted.owner.gid}); the "
            "operator did not make it, so it does not hand it over: check what is in it, "
            f"then chown it to {wanted.owner.uid}:{wanted.owner.gid} yourself, or move it "
            "aside for the operator to make a new one")


def _changes(wanted: ShareDirectory,
             seen: ObservedDirectory | None) -> tuple[Difference, ...]:
    pairs = (("Uid", wanted.owner.uid, seen.uid if seen else None),
             ("Gid", wanted.owner.gid, seen.gid if seen else None),
             ("Mode", f"{wanted.mode:04o}",
              f"{seen.mode:04o}" if seen and seen.mode is not None else None))
    return tuple(Difference(path, want, have) for path, want, have in pairs if want != have)
