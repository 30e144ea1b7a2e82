"""The `mkdocs-wan` command: cache operations for CI and for people (generate, list, prune, verify)."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from mkdocs.exceptions import MkDocsException

from mkdocs_wan.assembly.engine import PageEngine
from mkdocs_wan.assembly.record import plural
from mkdocs_wan.collect import load_site, render_pages
from mkdocs_wan.errors import ModelLoadError
from mkdocs_wan.logs import quoted
from mkdocs_wan.media.posters import audit
from mkdocs_wan.render import backends
from mkdocs_wan.render.tiny import KINDS, save_tiny
from mkdocs_wan.store.cache import CacheError

config_option = click.option(
    "-f",
    "--config-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Path to mkdocs.yml (default: ./mkdocs.yml).",
)


def _site(
    config_file: str | None, verbose: bool = False, render: bool = True, preset: str | None = None, quiet: bool = False
) -> PageEngine:
    """Load the site and (with `render`) its pages; the page engine's record holds every clip.
    `preset` replaces the site's (`--preset preview` makes the preview model's clips); `quiet`
    keeps the pages' warnings to itself (approve/reject need the keys, not the held warnings
    they are resolving)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)-7s -  %(message)s"))
    logger = logging.getLogger("mkdocs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.ERROR if quiet else logging.WARNING)
    overrides = {"generate": "auto"} | ({"preset": preset} if preset else {})  # the command decides
    config, plugin = load_site(config_file, **overrides)
    if render:
        render_pages(config)
    assert plugin.engine is not None
    return plugin.engine


def _run(command: Callable[..., Any]) -> Callable[..., Any]:
    """Report MkDocs, model and cache errors as one line and exit 1, like `mkdocs build`."""

    def wrapper(**kwargs: Any) -> Any:
        try:
            return command(**kwargs)
        except (MkDocsException, ModelLoadError, CacheError) as err:  # the command is ours: no plugin prefix
            raise click.ClickException(str(err).removeprefix("mkdocs_wan: ")) from None

    wrapper.__name__ = command.__name__
    wrapper.__doc__ = command.__doc__
    return wrapper


@click.group()
@click.version_option(package_name="mkdocs-wan")
def cli() -> None:
    """Manage the clip cache of an MkDocs site that uses the `wan` plugin."""


@cli.command(short_help="Generate the site's missing clips into the cache.")
@config_option
@click.option(
    "--preset",
    type=click.Choice(["final", "draft", "preview"]),
    default=None,
    help="Override the site's preset (preview: the preview_model's clips).",
)
@_run
def generate(config_file: str | None, preset: str | None) -> None:
    """Generate every clip the site needs into the cache, without building the site."""
    started = time.perf_counter()
    engine = _site(config_file, verbose=True, preset=preset)
    engine.warn = lambda message: click.echo(message, err=True)
    if engine.build.missing:
        engine.generate(backends.renderer(engine.settings))
    build = engine.build
    total, made, failed, fetched = len(build.plans), len(build.made), len(build.failed), len(build.fetched)
    size = sum(p.stat().st_size for key in build.plans if (p := engine.cache.path(key)).is_file())
    got = f"{made} generated, {fetched} fetched" if engine.settings["fetch_from"] else f"{made} generated"
    click.echo(
        f"{plural(total, 'clip')} ({size / 1e6:.1f} MB), {got}, {total - made - failed - fetched} cached, "
        f"{failed} failed in {time.perf_counter() - started:.1f} s"
    )
    if build.rejected:  # the well-formed ones are made all the same; a script must still see the failure
        click.echo(f"{plural(len(build.rejected), 'malformed directive')} made no clip (named above)", err=True)
    if failed or build.rejected:
        sys.exit(1)


@cli.command(name="list", short_help="List every directive: page:line, state, size, key.")
@config_option
@_run
def list_clips(config_file: str | None) -> None:
    """Every directive of the site: page:line, its state (cached, missing, held, rejected or
    malformed), size on disk, key, prompt (or the problem). Exit 1 if any directive is malformed,
    as `mkdocs build --strict` would."""
    engine = _site(config_file)
    build = engine.build
    rows = []
    for key, uses in build.uses.items():
        cached = key in build.cached
        size = f"{engine.cache.path(key).stat().st_size / 1e6:.2f} MB" if cached else "-"
        state = "cached" if cached else "missing"
        if review := build.held.get(key):
            state = "rejected" if review.startswith("rejected") else "held"
        rows += [(use.page, use.where, f"{state}\t{size}\t{key[:12]}\t{build.plans[key].title}") for use in uses]
    rows += [(bad.page, bad.where, f"malformed\t-\t-\t{bad.problem}") for bad in build.rejected]
    for _, where, row in sorted(rows, key=_in_page_order):
        click.echo(f"{where}\t{row}")
    if build.rejected:
        sys.exit(1)


def _in_page_order(row: tuple[str, str, str]) -> tuple[str, int]:
    page, where, _ = row
    line = where.rpartition(":")[2]
    return page, int(line) if line.isdigit() else 0


@cli.command(short_help="Delete cached clips no page references.")
@config_option
@click.option("--dry-run", is_flag=True, help="Show what would be deleted, delete nothing.")
@_run
def prune(config_file: str | None, dry_run: bool) -> None:
    """Delete cached clips that no page of the site references (a directive's clip, its segments,
    and its preview when the site has a `preview_model`, are all kept)."""
    engine = _site(config_file)
    cache = engine.cache
    wanted = {step.key for plan in engine.build.plans.values() for step in plan.steps}
    wanted |= _preview_keys(engine)
    freed = 0
    doomed = [key for key in cache.clip_keys() if key not in wanted]
    for key in doomed:
        size = cache.path(key).stat().st_size
        freed += size
        record = cache.record(key) or {}
        spec = record.get("spec") if isinstance(record.get("spec"), dict) else {}
        prompt = quoted(str(spec.get("prompt") or "?"), 80) + (" (preview)" if record.get("preview") else "")
        click.echo(f"{'would delete' if dry_run else 'deleted'} {key[:12]} ({size / 1e6:.2f} MB) {prompt}")
        if not dry_run:
            cache.discard(key)
    if not dry_run:
        cache.sweep()
    verb = "would free" if dry_run else "freed"
    kept = len(cache.clip_keys()) if not dry_run else len(cache.clip_keys()) - len(doomed)
    click.echo(f"{len(doomed)} unreferenced clips, {verb} {freed / 1e6:.2f} MB; {kept} clip files kept")


def _preview_keys(engine: PageEngine) -> set[str]:
    """The keys of the previews `mkdocs serve` makes first for the site's directives (its
    `preview_model`): the writer's next serve shows them at once, so prune keeps them."""
    from mkdocs_wan.page.spec import SpecError

    settings = engine.preview_settings
    if settings is None:
        return set()
    keys: set[str] = set()
    for kind, raw, page in list(engine.build.sources.values()):
        try:
            keys |= {step.key for step in engine._plan(raw, kind, page, settings).steps}
        except SpecError:
            continue  # a directive the preview model cannot make has no preview
    return keys


@cli.command(short_help="Re-check every cached clip; drop damaged ones.")
@config_option
@_run
def verify(config_file: str | None) -> None:
    """Re-check every cached clip (checksum, decodes, frame count, Content Credentials); drop the
    bad ones, rebuild lost index records from the records next to the clips. Exit 1 if anything
    was damaged."""
    engine = _site(config_file, render=False)  # rendering would already drop bad clips
    cache, signing = engine.cache, engine.settings["credentials"]
    trust = engine.trust() if signing else None  # this cache's own root, the team's own leaf, trust_anchors
    good = bad = rebuilt = 0
    states: Counter[str] = Counter()
    for key in cache.clip_keys():
        unindexed = cache.index.get(key) is None
        problem = audit(cache, key)
        if problem is None and trust is not None:
            from mkdocs_wan.media.credentials import manifest_state, named_key, untrusted

            state, _ = manifest_state(cache.path(key), trust.every_root or None)
            states[state] += 1
            # A clip made here may predate `credentials: true`; one fetched must prove its signer.
            fetched = bool((cache.record(key) or {}).get("fetched_from"))
            path = cache.path(key)
            problem = untrusted(path, key, trust) if fetched else named_key(path, key, trust.every_root or None)
        if problem is None:
            good += 1
            rebuilt += unindexed
            continue
        bad += 1
        cache.discard(key)
        click.echo(f"dropped {key}.mp4: {problem}")
    swept = cache.sweep()
    restored = f" ({rebuilt} index records rebuilt)" if rebuilt else ""
    click.echo(
        f"{good + bad} cached clip files: {good} ok{restored}, {bad} bad (dropped), {len(swept)} stale temp "
        "files removed (files, not directives: each segment of a long clip is one too)"
    )
    if signing:
        counts = ", ".join(f"{states[state]} {state}" for state in ("Trusted", "Valid", "Invalid", "missing"))
        click.echo(f"Content Credentials: {counts} (Trusted: signed by this site's own identity or its trust_anchors)")
    if bad:
        sys.exit(1)


@cli.command(short_help="Re-sign cached clips with the current identity.")
@config_option
@_run
def sign(config_file: str | None) -> None:
    """Re-sign every cached clip with the current signing identity (after changing it); the
    frames stay bit-identical and no clip is regenerated. Fetched clips keep their producer's
    manifest."""
    engine = _site(config_file, render=False)
    cache, signer = engine.cache, engine.signer
    if signer is None:
        raise click.ClickException("`credentials: false` in mkdocs.yml: there is no identity to sign with")
    local = signer.identity.local  # checked once, before any clip is touched
    signed = kept = pictured = 0
    for key in cache.clip_keys():
        record = cache.record(key)
        if record is None or record.get("fetched_from") or audit(cache, key) is not None:
            kept += 1
            continue
        image = str((record.get("spec") or {}).get("image") or "")
        picture = cache.picture_path(image.removeprefix("sha256:")) if image.startswith("sha256:") else None
        if image.startswith("sha256:") and picture is None:
            # Its manifest names the start picture as an ingredient, and the cache no longer holds
            # those bytes: re-signing would drop it and still verify as Trusted. Leave it, and say so.
            pictured += 1
            continue
        facts = record.get("signed") or {
            "key": key,
            "model": record.get("model"),
            "fingerprint": record.get("fingerprint"),
        }
        try:
            data = signer(cache.path(key).read_bytes(), facts, picture)
        except Exception as err:  # noqa: BLE001 — c2pa's own errors: one line, nothing half-written
            raise click.ClickException(f"cannot sign {key}.mp4: {type(err).__name__}: {err}") from None
        meta = {k: v for k, v in record.items() if k not in ("sha256", "bytes", "created", "mtime_ns")}
        meta["credentials"] = "local" if local else "team"
        with cache.lock(key):
            cache.store(key, lambda path, data=data: path.write_bytes(data), meta)
        signed += 1
    click.echo(f"{signed} clips signed, {kept} left as they were (fetched from another site, or damaged: run verify)")
    if pictured:
        click.echo(
            f"{plural(pictured, 'clip')} made from a start picture kept their credentials: the cache no longer holds "
            "the picture, and re-signing would drop its ingredient from the manifest; regenerate them (delete them "
            "from the cache) to sign them with the new identity"
        )


@cli.command(short_help="Show each clip held for review and decide on it.")
@config_option
@click.option("--by", default=None, help="Who decides (default: git's user.name).")
@_run
def review(config_file: str | None, by: str | None) -> None:
    """Show each clip the build holds for review (page:line, prompt, why, poster), ask approve,
    reject or skip, and write the answer to the site's review file (commit it with the docs)."""
    from mkdocs_wan.assembly.review import held_clips, reviewer

    engine = _site(config_file)
    held = held_clips(engine)
    if not held:
        click.echo("no clips are held for review")
        return
    path = engine.settings.review_path
    name = by or reviewer()
    decided = 0
    for number, clip in enumerate(held, start=1):
        click.echo(f"[{number}/{len(held)}] {', '.join(clip.where)}  {clip.key[:12]}")
        click.echo(f"  prompt: {quoted(clip.title, 200)}")
        click.echo(f"  why:    {clip.reason.split('; approve it')[0]}")
        click.echo(f"  look:   {clip.clip}" + (f"  (poster {clip.poster})" if clip.poster else ""))  # what was judged
        answer = click.prompt("  approve, reject or skip?", type=click.Choice(["a", "r", "s"]), default="s")
        if answer == "s":
            continue
        why = click.prompt("  why (optional)", default="", show_default=False)
        _decide(
            path,
            clip.key,
            "approved" if answer == "a" else "rejected",
            name,
            why,
            clip.title,
            engine.cache.layout.locks,
        )
        decided += 1
    click.echo(f"{decided} of {len(held)} held clips decided; commit {path.name} with the docs")


@cli.command(short_help="Publish a held clip: record its approval.")
@config_option
@click.argument("key")
@click.option("--why", default="", help="Why it may be published.")
@click.option("--by", default=None, help="Who decides (default: git's user.name).")
@_run
def approve(config_file: str | None, key: str, why: str, by: str | None) -> None:
    """Approve clip KEY (from `mkdocs-wan list` or `review`): the next build publishes it."""
    _decide_cli(config_file, key, "approved", why, by)


@cli.command(short_help="Never publish a clip: record its rejection.")
@config_option
@click.argument("key")
@click.option("--why", default="", help="Why it must not be published.")
@click.option("--by", default=None, help="Who decides (default: git's user.name).")
@_run
def reject(config_file: str | None, key: str, why: str, by: str | None) -> None:
    """Reject clip KEY: no build publishes it; its pages show a note until the prompt changes."""
    _decide_cli(config_file, key, "rejected", why, by)


def _decide_cli(config_file: str | None, given: str, decision: str, why: str, by: str | None) -> None:
    from mkdocs_wan.assembly.review import resolve_key, reviewer
    from mkdocs_wan.page.spec import SpecError

    engine = _site(config_file, quiet=True)
    try:
        key = resolve_key(engine, given)
    except SpecError as err:
        raise click.ClickException(str(err)) from None
    plan = engine.build.plans.get(key)
    path = engine.settings.review_path
    before = engine.reviews.get(key)
    _decide(path, key, decision, by or reviewer(), why, plan.title if plan else "", engine.cache.layout.locks)
    sentinel = engine.cache.layout.reload_sentinel
    if sentinel.is_file():  # a running `mkdocs serve` rebuilds (its review file may not be watched yet)
        from mkdocs_wan.store.layout import touch

        touch(sentinel)
    if before is not None and before.decision != decision:  # a change of mind is said out loud
        click.echo(f"{key[:12]} was {before.decision} by {before.by or 'someone'} at {before.at}; now {decision}")
    click.echo(f"{decision} {key[:12]} in {path.name}; commit it with the docs")


def _decide(path: Path, key: str, decision: str, by: str, why: str, prompt: str, locks: Path) -> None:
    from mkdocs_wan.page.spec import SpecError
    from mkdocs_wan.store.reviews import record_decision

    try:
        record_decision(path, key, decision, by, why, prompt, lock=locks / "reviews.lock")
    except SpecError as err:
        raise click.ClickException(str(err)) from None
    except OSError as err:
        raise click.ClickException(f"cannot write {path}: {err.strerror or err}") from None


@cli.command(short_help="Run the local generation service: one resident model for every client.")
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free).")
@click.option(
    "--drop-after",
    default=120.0,
    show_default=True,
    type=click.FloatRange(0.5, 86_400),
    help="Drop a queued job no client has asked about for this many seconds.",
)
@_run
def service(config_file: str | None, host: str, port: int, drop_after: float) -> None:
    """Serve the site's model over HTTP on this machine: builds, `mkdocs serve`, the editor and
    scripts send it directives and get clips; the page it prints approves held clips."""
    try:
        from mkdocs_wan.service.run import ServiceError, serve
    except ImportError as err:
        raise click.ClickException(
            f"the service needs its extra: pip install 'mkdocs-wan[service]' ({err.name} is missing)"
        ) from None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)-7s -  %(message)s"))
    logging.getLogger("mkdocs").addHandler(handler)
    logging.getLogger("mkdocs").setLevel(logging.INFO)
    config, plugin = load_site(config_file, generate="auto", use_service=False)
    assert plugin.engine is not None
    try:
        serve(plugin.engine, Path(config.config_file_path or "mkdocs.yml"), config.site_name, host, port, drop_after)
    except ServiceError as err:
        raise click.ClickException(str(err)) from None


@cli.command(short_help="Run the language server (stdio) for editors.")
def lsp() -> None:
    """Serve the Language Server Protocol over stdio: diagnostics, CodeLens, hover and completion
    for the Markdown pages of sites that use the plugin (editors start this command)."""
    try:
        from mkdocs_wan.lsp.server import main
    except ImportError as err:
        raise click.ClickException(
            f"the language server needs its extra: pip install 'mkdocs-wan[editor]' ({err.name} is missing)"
        ) from None
    main()


@cli.command(short_help="Write a tiny offline pipeline of a Wan family.")
@click.argument("kind", type=click.Choice([*sorted(KINDS), "safety"]), metavar="KIND")
@click.argument("folder", type=click.Path(file_okay=False))
def tiny(kind: str, folder: str) -> None:
    """Write a tiny random-weight pipeline of one Wan family to FOLDER (its clips are noise):
    point `model:` at it to try that family's whole path offline.

    \b
    KIND: ti2v-5b, t2v-a14b, i2v-a14b, t2v-1.3b, i2v-14b, fastwan-ti2v-5b,
          fastwan-t2v-1.3b, or safety (an image classifier for `safety_model`).

    Wan2.1-T2V-14B and FastWan2.1-T2V-14B are told from their 1.3B forms only by their width
    (5,120), which no tiny model has: try their path with t2v-1.3b and fastwan-t2v-1.3b."""
    target = Path(folder)
    if target.exists() and any(target.iterdir()):
        raise click.ClickException(f"{folder} is not empty; give a new or empty folder")
    if kind == "safety":
        from mkdocs_wan.render.safety import save_tiny_classifier

        save_tiny_classifier(target)
        click.echo(f"wrote a tiny image classifier (labels normal, nsfw) to {folder}; set `safety_model: {folder}`")
        return
    save_tiny(kind, target)
    click.echo(f"wrote a tiny {KINDS[kind]} pipeline to {folder}; set `model: {folder}` to use it")
