"""`llmga models ...`: which profiles exist, whether their weights are here, and fetching them.

Every role counts (image, video, audio): a profile is one file, and check/pull read all of it.
PROFILE is a bundled name or a path to a .yaml profile file.
"""

from __future__ import annotations

import click

from agent.runtime import Runtime
from tools.errors import ConfigError
from tools.models.hub import check_profile, pull_profile
from tools.models.profile import available_profiles, load_profile


@click.group()
def models() -> None:
    """Model profiles: list them, check their weights, pull them."""


@models.command("list")
@click.pass_obj
def models_list(rt: Runtime) -> None:
    """One line per profile (the active one marked with *), then its roles."""
    for name in available_profiles():
        profile = load_profile(name)
        mark = "*" if name == rt.settings.profile else " "
        click.echo(f"{mark} {name:<11} {profile.description.strip()}")
        for role, spec in profile.roles.items():
            also = f"  (its loader also fetches {', '.join(spec.requires)})" if spec.requires else ""
            click.echo(f"    {role:<17} {spec.task:<17} {' + '.join(spec.ids(profile))}{also}")


@models.command("check")
@click.argument("profile", required=False)
@click.pass_obj
def models_check(rt: Runtime, profile: str | None) -> None:
    """Say, per model of PROFILE (default: the active one), whether it can load on this machine."""
    chosen = load_profile(profile or rt.settings.profile)
    ready = True
    for line in check_profile(chosen, rt.models.cache_dir):
        ready &= line.ok
        click.echo(f"  {'ok     ' if line.ok else 'MISSING'} {line.model}  {line.detail}")
    if not ready:
        raise ConfigError(f"some weights are missing: run `llmga models pull {chosen.source}`")


@models.command("pull")
@click.argument("profile", required=False)
@click.pass_obj
def models_pull(rt: Runtime, profile: str | None) -> None:
    """Download PROFILE's weights (default: the active one) into the Hugging Face cache; tiny ones are built locally."""
    for line in pull_profile(load_profile(profile or rt.settings.profile), rt.models.cache_dir, echo=click.echo):
        click.echo(f"  ok {line.model}  {line.detail}")
