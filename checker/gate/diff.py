"""Before -> after: the profiles at a base revision, planned on the same targets as head.

With --gpu (or repo-config targets with ``targets_only``) both sides use those targets.
Otherwise each side is planned on its own targets (repo-config targets joining them): a
profile that moved from one GPU to another shows the target it left (no "after") and the one
it moved to (no "before"), never figures of the old profile on a GPU it did not target.
"""

from __future__ import annotations

from collections.abc import Sequence

from checker.gate.pairs import PairSettings, check_pair
from checker.gate.result import BaseDiff, ChangeStatus, Figures, PairChange, PairResult
from checker.gate.result import ProfileChange as Change
from checker.gate.sources.git_base import Revision
from checker.gate.sources.profiles import Loaded, targets_of
from checker.schemas.profile_io import Target

_ERROR = Figures(verdict="ERROR")


def build_diff(
    revision: Revision,
    head: Loaded,
    base: Loaded,
    head_pairs: Sequence[PairResult],
    given: Sequence[Target],
    settings: PairSettings,
    *,
    add_own: bool = False,
) -> BaseDiff:
    after_by_profile: dict[str, dict[str, Figures]] = {}
    for pair in head_pairs:
        after_by_profile.setdefault(pair.profile, {})[pair.target] = pair.figures
    paths = {*head.profiles, *head.problems, *base.profiles, *base.problems}
    changes = [
        _change(rel, head, base, after_by_profile.get(rel, {}), given, settings, revision, add_own)
        for rel in sorted(paths)
    ]
    return BaseDiff(ref=revision.ref, commit=revision.commit, profiles=changes)


def _change(
    rel: str,
    head: Loaded,
    base: Loaded,
    after: dict[str, Figures],
    given: Sequence[Target],
    settings: PairSettings,
    revision: Revision,
    add_own: bool,
) -> Change:
    in_head = rel in head.profiles or rel in head.problems
    in_base = rel in base.profiles or rel in base.problems
    old = base.profiles.get(rel)
    before: dict[str, Figures] = {}
    if old is not None:
        base_dir = (revision.cwd / rel).parent
        for target in targets_of(old, given, add_own=add_own):
            before[str(target)] = check_pair(old, target, settings, base_dir=base_dir).figures
    if rel in head.problems:  # head cannot be read: ERROR on the targets it had (the base's)
        after = {
            str(t): _ERROR for t in (targets_of(old, given, add_own=add_own) if old else given)
        }
    names = [*after, *(t for t in before if t not in after)]
    pairs = [PairChange(target=t, before=before.get(t), after=after.get(t)) for t in names]
    status: ChangeStatus
    if not in_base:
        status = "new"
    elif not in_head:
        status = "removed"
    elif head.texts.get(rel) == base.texts.get(rel) and all(p.before == p.after for p in pairs):
        status = "unchanged"
    else:
        status = "changed"
    problem = next(iter(base.problems.get(rel, [])), None)
    return Change(
        profile=rel,
        status=status,
        pairs=pairs,
        base_error=problem.message if problem else None,
    )
