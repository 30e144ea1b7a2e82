"""Speed settings on the tiny model: same clips where promised, draft differs where it should."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from mkdocs_wan.assembly.plan import plan_clip
from mkdocs_wan.models.reference import ModelRef
from mkdocs_wan.page.spec import ClipSpec
from mkdocs_wan.render.generate import ModelLoadError, WanGenerator
from mkdocs_wan.render.speed import DRAFT_HOOK, Tuning
from tests.test_spec import DEFAULTS

SPEC = ClipSpec("A kite over the sea", "blurry, low quality", 3, 9, 24, 64, 64, 6, 5.0)
CALL = {"height": 64, "width": 64, "num_frames": 9, "num_inference_steps": 6, "guidance_scale": 5.0}


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    gen = WanGenerator(ModelRef.resolve("tiny", tmp_path_factory.mktemp("m")), tmp_path_factory.mktemp("c"))
    gen.load()
    return gen


def run(pipe, **kwargs):
    with torch.no_grad():
        return pipe(generator=torch.Generator().manual_seed(3), output_type="np", **CALL, **kwargs).frames[0]


def test_scalar_timesteps_give_the_same_text_to_video_clip(generator):
    pipe = generator.load()
    assert pipe.config.expand_timesteps is False
    args = {"prompt": SPEC.prompt, "negative_prompt": SPEC.negative_prompt}
    scalar = run(pipe, **args)
    pipe.register_to_config(expand_timesteps=True)
    try:
        per_token = run(pipe, **args)
    finally:
        pipe.register_to_config(expand_timesteps=False)
    assert np.allclose(scalar, per_token, atol=1e-4)  # float rounding only
    assert generator.image_pipeline().config.expand_timesteps is True  # I2V still pins its start frame


def test_cached_512_token_embeddings_match_the_prompt_path(generator):
    pipe = generator.load()
    strings = run(pipe, prompt=SPEC.prompt, negative_prompt=SPEC.negative_prompt)
    cached = run(
        pipe,
        prompt_embeds=generator._text_embeds(SPEC.prompt),
        negative_prompt_embeds=generator._text_embeds(SPEC.negative_prompt),
    )
    assert np.allclose(strings, cached, atol=1e-4)
    short, _ = pipe.encode_prompt(prompt=SPEC.prompt, do_classifier_free_guidance=False, device="cpu")  # 226 tokens
    assert short.shape[1] == 226 and generator._text_embeds(SPEC.prompt).shape[1] == 512
    generated = generator.generate(SPEC)
    assert np.array_equal(generated, generator.generate(SPEC))  # the cache does not change results


def test_draft_preset_has_fewer_steps_a_cache_hook_and_its_own_key():
    final = plan_clip({"prompt": "A kite"}, DEFAULTS | {"steps": 50}, "", "tiny/v2", 20)
    draft = plan_clip({"prompt": "A kite"}, DEFAULTS | {"steps": 50}, "", "tiny/v2", 20, draft=True)
    assert final.steps[0].spec.steps == 50 and draft.steps[0].spec.steps == 20
    assert draft.steps[0].spec.cache_hook == DRAFT_HOOK and final.key != draft.key


def test_cache_hook_switches_on_and_off(generator):
    from dataclasses import replace

    final = generator.generate(SPEC)
    hooked = replace(SPEC, cache_hook="first-block-cache:5.0")  # a huge threshold: skips most blocks
    calls = [0]  # runs of the last block's feed-forward: blocks the cache skips don't reach it
    last_ffn = generator.load().transformer.blocks[-1].ffn
    handle = last_ffn.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    try:
        drafted = generator.generate(hooked)
        hooked_calls, calls[0] = calls[0], 0
        again = generator.generate(SPEC)
    finally:
        handle.remove()
    assert hooked_calls < calls[0] == 2 * SPEC.steps  # CFG: two transformer calls per step
    assert not np.array_equal(final, drafted) and np.array_equal(final, again)


def test_low_memory_and_attention_settings(tmp_path):
    low = WanGenerator(
        ModelRef.resolve("tiny", tmp_path), tmp_path, tuning=Tuning(attention="_native_math", memory="low")
    )
    frames = low.generate(SPEC)
    assert frames.shape == (9, 64, 64, 3) and low.load().vae.use_tiling
    bad = WanGenerator(ModelRef.resolve("tiny", tmp_path), tmp_path, tuning=Tuning(attention="no-such-backend"))
    with pytest.raises(ModelLoadError, match="cannot apply the speed settings"):
        bad.load()


def test_draft_preset_keeps_at_least_four_steps():
    for steps, expected in ((2, 4), (5, 4), (10, 4), (11, 4), (13, 5), (50, 20)):
        draft = plan_clip({"prompt": "A kite"}, DEFAULTS | {"steps": steps}, "", "tiny/v2", 20, draft=True)
        assert draft.steps[0].spec.steps == expected, steps


def test_speed_and_memory_options_reach_the_generator_from_mkdocs_yml(tmp_path):
    """`compile`, `memory` and `attention` in mkdocs.yml become the resident generator's tuning."""
    from mkdocs_wan.collect import load_site
    from mkdocs_wan.render import backends

    (tmp_path / "docs").mkdir()
    options = {"model": "tiny", "compile": True, "memory": "low", "attention": "_native_math", "cache_dir": "c"}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump({"site_name": "T", "plugins": [{"wan": options}]}))
    _config, plugin = load_site(str(tmp_path / "mkdocs.yml"))
    generator = backends.local_generator(plugin.engine.settings)
    assert generator.tuning == Tuning(attention="_native_math", compile=True, memory="low")
    assert generator.cache_dir == tmp_path / "c"


class _Recorder:
    """Stands in for a pipeline on a CUDA machine (none here): records which diffusers placement
    and compile calls `apply_tuning` makes, the GPU-only branches."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.vae = self._part("vae")
        self.transformer, self.transformer_2 = self._part("transformer"), self._part("transformer_2")

    def _part(self, name: str) -> object:
        calls = self.calls

        class Part:
            def __getattr__(self, method: str):
                return lambda *a, **kw: calls.append(f"{name}.{method}{'(fullgraph)' if kw.get('fullgraph') else ''}")

        return Part()

    def __getattr__(self, method: str):
        return lambda *a, **kw: self.calls.append(method)


@pytest.mark.parametrize(
    ("memory", "expected"),
    [
        (
            "high",
            [
                "to",
                "transformer.compile_repeated_blocks(fullgraph)",
                "transformer_2.compile_repeated_blocks(fullgraph)",
            ],
        ),
        ("balanced", ["enable_model_cpu_offload", "transformer.compile", "transformer_2.compile"]),
        ("low", ["vae.enable_tiling", "enable_group_offload", "transformer.compile", "transformer_2.compile"]),
    ],
)
def test_memory_modes_place_and_compile_as_diffusers_documents(memory, expected):
    from mkdocs_wan.render.speed import apply_tuning

    pipe = _Recorder()
    apply_tuning(pipe, Tuning(compile=True, memory=memory), "cuda")
    assert pipe.calls == expected  # both A14B experts; fullgraph regional compile only without offload hooks
