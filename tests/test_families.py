"""The Wan model families: each read from its own checkpoint, with its rules, sampler and defaults.

Every family is a tiny random-weight pipeline of the real diffusers classes, saved with
`save_pretrained` and loaded through the same `from_pretrained` path as a downloaded checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest
import torch
from conftest import summary
from PIL import Image

from mkdocs_wan.assembly.plan import plan_clip
from mkdocs_wan.media.encode import count_frames
from mkdocs_wan.models.families import SUPPORTED
from mkdocs_wan.models.reference import ModelRef
from mkdocs_wan.page.spec import SpecError, model_text
from mkdocs_wan.render.dmd import DMDScheduler
from mkdocs_wan.render.generate import WanGenerator
from mkdocs_wan.render.tiny import KINDS, save_tiny
from mkdocs_wan.settings.options import Settings
from mkdocs_wan.store.cache import ClipCache
from tests.test_references import WAN_NEGATIVE
from tests.test_serve import Server, write


@pytest.fixture(scope="session")
def tinies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tinies")
    return {kind: save_tiny(kind, root / kind) for kind in KINDS}


def settings(model: str | Path, **options: object) -> Settings:
    return Settings.from_options({"model": str(model), **options}, Path("/"), Path("/"))


def plan(s: Settings, **options: object):
    defaults, family, lora = s.clip_defaults, s.family, s.lora_digest
    return plan_clip(
        {"prompt": "A kite", **options}, defaults, "", s.fingerprint, 20, family=family, lora=lora,
        flow_shift=s["flow_shift"], solver=s["sampler"],
    )  # fmt: skip


def test_each_checkpoint_is_recognised_by_what_it_is(tinies, tmp_path):
    assert {kind: ModelRef.resolve(str(path), Path("/")).family().name for kind, path in tinies.items()} == KINDS
    renamed = tmp_path / "Wan2.2-TI2V-5B-but-really-A14B"  # the name says nothing; the configs do
    renamed.symlink_to(tinies["t2v-a14b"])
    assert settings(renamed).family.name == "Wan2.2-T2V-A14B"
    assert settings(renamed).clip_defaults | {"seed": 0} == {
        "frames": 81, "fps": 16, "size": (1280, 720), "steps": 40, "guidance": 4.0, "guidance_2": 3.0,
        "seed": 0, "negative_prompt": WAN_NEGATIVE,
    }  # fmt: skip


def test_each_family_states_its_size_rule_and_nearest_sizes(tinies):
    ti2v, a14b = settings("tiny"), settings(tinies["t2v-a14b"])
    assert plan(a14b, size="1280x720").display.width == 1280
    with pytest.raises(SpecError) as err:
        plan(ti2v, size="1280x720")
    assert str(err.value) == (
        "size sides must be multiples of 32 and at least 32 for tiny (Wan2.2-TI2V-5B-shaped), got 1280x720; "
        "use 1280x704 or 1280x736"
    )
    with pytest.raises(SpecError, match=r"multiples of 16 and at least 16 for Wan2.2-T2V-A14B, got 1288x720; "):
        plan(a14b, size="1288x720")
    assert plan(settings(tinies["t2v-1.3b"])).display.width == 832  # Wan2.1-1.3B's own 480p default
    with pytest.raises(SpecError, match=r"steps must be 3 for FastWan2.2-TI2V-5B \(DMD\): it is distilled"):
        plan(settings(tinies["fastwan-ti2v-5b"]), steps=50)
    with pytest.raises(SpecError, match=r"Wan2.2-I2V-A14B is an image-to-video model: every clip needs image="):
        plan(settings(tinies["i2v-a14b"]))
    with pytest.raises(SpecError, match=r"makes clips from text only; .*set image_model:"):
        plan_clip({"prompt": "A kite"}, a14b.clip_defaults, "", a14b.fingerprint, 20, (Path("p.png"), "ab"), False,
                  a14b.family)  # fmt: skip


def test_an_unrecognised_pipeline_is_one_line_listing_what_is_supported(site, tmp_path):
    sd = tmp_path / "sd15"
    sd.mkdir()
    (sd / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    site.options["model"] = str(sd)
    site.page("index.md", "<!-- @video-gen A kite -->\n")
    result = site.build()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "StableDiffusionPipeline" in line]
    assert line.endswith(f"is a StableDiffusionPipeline checkpoint, not a Wan pipeline; supported: {SUPPORTED}")


def test_a_distilled_checkpoint_loads_into_diffusers_wan_pipeline_with_its_sampler(tinies, tmp_path):
    assert json.loads((tinies["fastwan-ti2v-5b"] / "model_index.json").read_text())["_class_name"] == "WanDMDPipeline"
    s = settings(tinies["fastwan-ti2v-5b"], size="32x32", frames=5)
    generator = WanGenerator(s.model, tmp_path)
    pipe = generator.load()
    assert type(pipe).__name__ == "WanPipeline" and isinstance(pipe.scheduler, DMDScheduler)
    spec = plan(s).steps[0].spec
    assert spec.sampler == "dmd:1000,757,522" and spec.steps == 3 and spec.guidance == 1.0
    steps: list[int] = []
    frames = generator.generate(spec, on_step=lambda step, _total: steps.append(step))
    assert steps == [1, 2, 3] and frames.shape == (5, 32, 32, 3)
    assert (generator.generate(spec) == frames).all()  # seeded like every clip, re-noising included


def test_the_two_a14b_experts_both_run_switching_at_the_boundary(tinies, tmp_path):
    s = settings(tinies["t2v-a14b"], size="32x32", frames=5, steps=8)
    generator = WanGenerator(s.model, tmp_path)
    pipe = generator.load()
    seen: dict[str, list[float]] = {"transformer": [], "transformer_2": []}
    for name in seen:
        getattr(pipe, name).register_forward_pre_hook(
            lambda _m, _a, kwargs, name=name: seen[name].append(float(kwargs["timestep"][0])), with_kwargs=True
        )
    spec = plan(s).steps[0].spec
    assert (spec.guidance, spec.guidance_2) == (4.0, 3.0)
    generator.generate(spec)
    boundary = 0.875 * 1000
    assert seen["transformer"] and seen["transformer_2"]
    assert min(seen["transformer"]) >= boundary > max(seen["transformer_2"])


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_family_makes_a_playable_clip_in_a_real_build(kind, tinies, site):
    site.options |= {"model": str(tinies[kind]), "size": "32x32", "frames": 5}
    if kind.startswith("fastwan"):
        del site.options["steps"]  # a distilled checkpoint takes its own 3
    image = kind.startswith("i2v")
    site.page("index.md", "# Clip\n\n<!-- @video-gen A kite" + (" {image=start.png}" if image else "") + " -->\n")
    if image:
        Image.new("RGB", (48, 32), (200, 40, 40)).save(site.root / "docs" / "start.png")
    result = site.build("--strict")
    assert result.returncode == 0, result.stderr
    html = (site.site_dir / "index.html").read_text()
    (src,) = re.findall(r'<video src="([^"]+)"', html)
    assert count_frames(site.site_dir / src) == 5


def test_a_lora_file_is_part_of_every_key(tinies, tmp_path):
    lora = tmp_path / "high_noise_model.safetensors"
    lora.write_bytes(b"one")
    first = plan(settings(tinies["t2v-a14b"], lora={"transformer": str(lora)})).key
    lora.write_bytes(b"two")
    assert plan(settings(tinies["t2v-a14b"], lora={"transformer": str(lora)})).key != first
    assert plan(settings(tinies["t2v-a14b"])).key not in (first,)
    with pytest.raises(SpecError, match="lora transformer_2 is for two-expert models"):
        settings("tiny", lora={"transformer_2": str(lora)}).lora_digest  # noqa: B018


def read_so_far() -> int:
    """Bytes this process has read (Linux `/proc/self/io`): a file hashed shows up in full."""
    return int(re.search(r"rchar: (\d+)", Path("/proc/self/io").read_text())[1])


def test_a_lora_is_hashed_once_per_version_of_the_file(tmp_path, monkeypatch):
    """Lightning's LoRAs are ~1.2 GB each: hashing them again in every build (and in every serve
    rebuild) cost seconds. Its digest is kept by the file's stat, and a rewrite is hashed again."""
    from mkdocs_wan.settings import digests

    lora, memo = tmp_path / "lightning.safetensors", tmp_path / "cache" / "digests.json"
    options = {"model": "tiny", "lora": str(lora), "cache_dir": str(tmp_path / "cache")}

    def digest() -> tuple[str, int]:  # as a new process (a new build) gets it
        monkeypatch.setattr(digests, "_known", {})
        before = read_so_far()
        found = Settings.from_options(options, tmp_path, tmp_path).lora_digest
        return found, read_so_far() - before

    data = os.urandom(1 << 24)
    lora.write_bytes(data)
    assert digest() == (f"transformer={hashlib.sha256(data).hexdigest()[:16]}", pytest.approx(1 << 24, rel=0.1))
    assert not memo.exists()  # just written: a write in the same clock tick could keep its stat
    monkeypatch.setattr(digests, "SETTLE_NS", 0)
    first, _ = digest()
    assert memo.is_file() and digest() == (first, pytest.approx(0, abs=1 << 20))  # the memo, not the file
    stat = lora.stat()
    other = os.urandom(1 << 24)
    lora.write_bytes(other)  # same size, and its old mtime put back: the ctime still tells
    os.utime(lora, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert digest()[0] == f"transformer={hashlib.sha256(other).hexdigest()[:16]}" != first
    for hostile in (b"{not json", b'{"x": ' * 100_000, b"[]", b"x" * (2 << 20)):
        memo.write_bytes(hostile)
        assert digest() == (f"transformer={hashlib.sha256(other).hexdigest()[:16]}", pytest.approx(1 << 24, rel=0.1))
    memo.unlink()
    os.mkfifo(memo)  # never blocks
    assert digest()[0].endswith(hashlib.sha256(other).hexdigest()[:16])


def test_preview_and_final_have_their_own_keys_and_a_final_build_never_shows_a_preview(tinies, site):
    site.options |= {"preview_model": str(tinies["fastwan-ti2v-5b"])}
    del site.options["steps"]
    site.page("index.md", "# Clip\n\n<!-- @video-gen A kite over the sea -->\n")
    site.options["preset"] = "preview"
    assert site.build("--strict").returncode == 0
    preview = (site.site_dir / "index.html").read_text()
    assert 'class="wan-video wan-preview"' in preview and '<span class="wan-video-preview">Preview</span>' in preview
    assert f'data-model="{tinies["fastwan-ti2v-5b"]}"' in preview and 'data-preview="true"' in preview
    site.options |= {"preset": "final", "generate": "never"}
    result = site.build()
    final = (site.site_dir / "index.html").read_text()
    assert "clip not in the cache and `generate: never`" in result.stderr  # the cached preview is not it
    assert "<video" not in final and "wan-preview" not in final
    del site.options["generate"]
    assert site.build("--strict").returncode == 0
    final = (site.site_dir / "index.html").read_text()
    assert "<video" in final and "wan-preview" not in final and 'data-model="tiny"' in final
    key = re.compile(r'data-wan-key="(\w+)"')
    assert key.search(final)[1] != key.search(preview)[1]


def test_serve_shows_the_preview_first_then_swaps_in_the_final(tinies, tmp_path):
    import yaml

    (tmp_path / "docs").mkdir()
    options = {"model": "tiny", "preview_model": str(tinies["fastwan-ti2v-5b"]), "frames": 33}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump({"site_name": "Serve", "plugins": [{"wan": options}]}))
    write(tmp_path / "docs" / "index.md", "# Home\n\n<!-- @video-gen A lighthouse at dusk {size=256x256} -->\n")
    server = Server(tmp_path)
    try:
        # Events the server logs, not a page caught between two reloads: the first build shows the
        # placeholder, the next one the preview (its markup: the build test above), the last the final.
        server.wait_log("1 preview queued", timeout=60)
        server.wait_log("1 preview shown", timeout=180)
        final = server.wait_for("/", r'<figure class="wan-video" data-wan-key', timeout=300)
        assert "wan-preview" not in final and 'data-model="tiny"' in final
        log = server.output()  # the log says which is which, and counts one directive as one clip
        assert "preview for index.md:3: generating A lighthouse at dusk" in log, log
        assert "generated preview for index.md:3 in " in log and "generated clip for index.md:3 in " in log, log
        assert summary("1 clip (MB), 0 generated, 0 cached, 1 queued, 1 preview queued", log), log
        assert summary("1 clip (MB), 0 generated, 0 cached, 1 queued, 1 preview shown", log), log
        assert log.count("Building documentation") == 3, log  # the edit, the preview, the final
    finally:
        server.proc.kill()
        server.proc.wait()


def test_the_cli_writes_a_tiny_family_and_generates_previews(site, tmp_path):
    fast = tmp_path / "fastwan"
    written = site.cli("tiny", "fastwan-ti2v-5b", str(fast))
    assert written.returncode == 0 and "FastWan2.2-TI2V-5B (DMD)" in written.stdout, written.stderr
    assert site.cli("tiny", "fastwan-ti2v-5b", str(fast)).returncode == 1  # never over a model
    # The site's `steps: 2` is the final model's: the distilled preview takes its own 3.
    site.options |= {"preview_model": str(fast), "size": "32x32", "frames": 5}
    site.page("index.md", "# Clip\n\n<!-- @video-gen A paper lantern -->\n")
    made = site.cli("generate", "--preset", "preview")
    assert made.returncode == 0 and "1 clip (" in made.stdout and "1 generated" in made.stdout, made.stderr
    site.options |= {"preset": "preview", "generate": "never"}
    built = site.build("--strict")
    assert built.returncode == 0 and ", previews from /" in built.stderr, built.stderr
    assert "Preview</span>" in (site.site_dir / "index.html").read_text()


def test_a_sparse_distilled_checkpoint_is_refused_naming_the_dense_one(tinies, tmp_path):
    from safetensors.torch import save_file

    assert settings(tinies["fastwan-t2v-1.3b"]).family.name == "FastWan2.1-T2V-1.3B (DMD)"  # dense weights: runs
    sparse = tmp_path / "FastWan2.1-T2V-1.3B-Diffusers"
    sparse.mkdir()
    for part in tinies["fastwan-t2v-1.3b"].iterdir():
        (sparse / part.name).symlink_to(part)
    (sparse / "transformer").unlink()
    (sparse / "transformer").mkdir()
    (sparse / "transformer" / "config.json").symlink_to(tinies["fastwan-t2v-1.3b"] / "transformer" / "config.json")
    gates = {"blocks.0.attn1.to_gate_compress.weight": torch.zeros(2, 2)}
    save_file(gates, str(sparse / "transformer" / "diffusion_pytorch_model.safetensors"))
    for model in (sparse, "FastVideo/FastWan2.1-T2V-1.3B-Diffusers"):  # a folder's weights; a Hub id not downloaded
        with pytest.raises(SpecError) as err:
            settings(model).family  # noqa: B018
        assert "sparse-distilled with Video Sparse Attention" in str(err.value)
        assert "FastVideo/FastWan2.2-TI2V-5B-FullAttn-Diffusers" in str(err.value)


def test_a_dmd_model_ignores_flow_shift_and_refuses_guidance(tinies):
    fast = settings(tinies["fastwan-ti2v-5b"])
    with_shift = plan_clip({"prompt": "A kite"}, fast.clip_defaults, "", fast.fingerprint, 20, family=fast.family,
                           flow_shift=12.0)  # fmt: skip
    assert with_shift.key == plan(fast).key and with_shift.steps[0].spec.sampler == "dmd:1000,757,522"
    with pytest.raises(SpecError, match=r"guidance must be 1 for FastWan2.2-TI2V-5B \(DMD\)"):
        plan(fast, guidance=5)


def test_a_preview_from_the_final_checkpoint_has_its_own_key(tinies):
    same = str(tinies["t2v-a14b"])
    final = settings(same, preview_model=same)
    preview = settings(same, preview_model=same, preset="preview")
    assert plan(final).steps[0].spec == plan(preview).steps[0].spec
    assert plan(final).key != plan(preview).key


def test_sampling_defaults_are_keyed_and_can_be_turned_off(tinies):
    a14b = settings(tinies["t2v-a14b"])
    spec = plan(a14b).steps[0].spec
    # The text encoder reads it cleaned as diffusers cleans every prompt (ftfy folds full-width commas).
    assert (spec.sampler, spec.negative_prompt) == ("ode@12", model_text(WAN_NEGATIVE))
    bare = settings(tinies["t2v-a14b"], negative_prompt=False, flow_shift=5, sampler="euler", memory="balanced")
    assert (plan(bare).steps[0].spec.sampler, plan(bare).steps[0].spec.negative_prompt) == ("euler@5", "")
    assert plan(bare).key != plan(a14b).key
    assert plan(settings("tiny", negative_prompt=False)).key != plan(settings("tiny")).key


def test_a_two_expert_checkpoint_without_a_boundary_gets_its_familys(tinies, tmp_path):
    bare = tmp_path / "a14b-no-boundary"
    bare.mkdir()
    for part in tinies["t2v-a14b"].iterdir():
        if part.name != "model_index.json":
            (bare / part.name).symlink_to(part)
    index = json.loads((tinies["t2v-a14b"] / "model_index.json").read_text())
    (bare / "model_index.json").write_text(json.dumps(index | {"boundary_ratio": None}))
    s = settings(bare, size="32x32", frames=5, steps=4)
    generator = WanGenerator(s.model, tmp_path / "cache")
    pipe = generator.load()
    ran = {"transformer": 0, "transformer_2": 0}
    for name in ran:
        getattr(pipe, name).register_forward_pre_hook(lambda *_, name=name: ran.__setitem__(name, ran[name] + 1))
    generator.generate(plan(s).steps[0].spec)
    assert pipe.config.boundary_ratio == 0.875 and ran["transformer"] and ran["transformer_2"]


def test_a_hostile_model_folder_is_one_line_not_a_crash(tinies, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    for part in tinies["ti2v-5b"].iterdir():
        (folder / part.name).symlink_to(part)
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)  # nested beyond the parser's reach
    assert settings(folder).fingerprint  # hashed as bytes, never a RecursionError
    (folder / "transformer").unlink()
    (folder / "transformer").mkdir()
    config = json.loads((tinies["ti2v-5b"] / "transformer" / "config.json").read_text())
    (folder / "transformer" / "config.json").write_text(json.dumps(config | {"in_channels": 48.0}))
    with pytest.raises(SpecError, match=r"whose transformer takes 48\.0 latent channels, which no supported"):
        settings(folder).family  # noqa: B018 — refused, not taken for TI2V-5B and failed per clip


def test_prune_keeps_the_previews_of_directives_that_still_exist(tinies, site):
    site.options |= {"preview_model": str(tinies["fastwan-ti2v-5b"]), "cache_dir": str(site.root / "cache")}
    del site.options["steps"]
    site.page("index.md", "# Clip\n\n<!-- @video-gen A kite over the sea -->\n")
    site.options["preset"] = "preview"
    assert site.build().returncode == 0
    site.options["preset"] = "final"
    assert site.build().returncode == 0
    cache = ClipCache(site.root / "cache")
    assert len(cache.clip_keys()) == 2  # the preview and the final clip
    kept = site.cli("prune")
    assert kept.returncode == 0 and "0 unreferenced clips" in kept.stdout, kept.stdout
    assert len(cache.clip_keys()) == 2
    site.page("index.md", "# Clip\n\nNo clip any more.\n")
    dry = site.cli("prune", "--dry-run")
    assert dry.stdout.count("would delete") == 2 and dry.stdout.count(") A kite over the sea") == 2, dry.stdout
    assert dry.stdout.count("(preview)") == 1
