"""The `profile` artifact: the profile a plan was made from, flag overrides included."""

from __future__ import annotations

from checker.render.context import RenderContext
from checker.schemas.profile import Profile, ProfileModel
from checker.schemas.profile_io import dump_profile


def profile_text(ctx: RenderContext, header: str) -> str:
    """YAML of the context's profile: the editor modeline first, our header next."""
    profile = ctx.profile or Profile(model=ProfileModel(id=ctx.plan.config.model))
    first, _, rest = dump_profile(profile).partition("\n")
    return f"{first}\n{header}\n{rest}"
