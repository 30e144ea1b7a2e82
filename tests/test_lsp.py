"""`mkdocs-wan lsp` driven over stdio by a real LSP client (pytest-lsp): the build's messages as
diagnostics at the build's lines, CodeLens that follows the clip, hover, completion."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import yaml

pytest_lsp = pytest.importorskip("pytest_lsp")
from lsprotocol import types as t  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient  # noqa: E402


def _site(root: Path) -> Path:
    (root / "docs").mkdir(parents=True, exist_ok=True)
    config = {"site_name": "Editor", "plugins": [{"wan": {"model": "tiny", "size": "64x64", "frames": 5, "steps": 2,
              "cache_dir": str(root / "cache"), "policy": ["gore"],
              "templates": {"product": {"prompt": "A {name} turning on a table, {color}"}}}}]}  # fmt: skip
    (root / "mkdocs.yml").write_text(yaml.safe_dump(config))
    return root


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "mkdocs_wan", "lsp"]))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(t.InitializeParams(capabilities=t.ClientCapabilities()))
    yield
    await lsp_client.shutdown_session()


async def ask(client: LanguageClient, method: str, params: object) -> object:
    """A custom request's answer as plain JSON (pygls hands objects back as namedtuples)."""

    def plain(value: object) -> object:
        if hasattr(value, "_asdict"):
            return {name: plain(item) for name, item in value._asdict().items()}
        return [plain(item) for item in value] if isinstance(value, list) else value

    return plain(await client.protocol.send_request_async(method, params))


def change(client: LanguageClient, uri: str, version: int, text: str) -> None:
    document = t.VersionedTextDocumentIdentifier(uri=uri, version=version)
    whole = t.TextDocumentContentChangeWholeDocument(text=text)
    client.text_document_did_change(t.DidChangeTextDocumentParams(text_document=document, content_changes=[whole]))


PAGE = """# Kites

<!-- @video-gen A red kite over a hill -->

Text between.

<!-- @video-gen A kite {frames=7} -->

<!-- @video-gen A gore scene -->

<!-- video-gen A near miss -->
"""


@pytest.mark.asyncio
async def test_diagnostics_lenses_and_hover_as_the_build_sees_the_page(client: LanguageClient, tmp_path):
    root = _site(tmp_path / "site")
    page = root / "docs" / "guide.md"
    page.write_text(PAGE)
    uri = page.as_uri()
    client.text_document_did_open(
        t.DidOpenTextDocumentParams(t.TextDocumentItem(uri=uri, language_id="markdown", version=1, text=PAGE))
    )
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    found = sorted((d.range.start.line + 1, d.message) for d in client.diagnostics[uri])
    lines = [line for line, _ in found]
    assert 7 in lines and 9 in lines and 11 in lines, found
    assert any(line == 7 and message.startswith("frames must be 4k+1") for line, message in found), found
    assert any(line == 9 and "refused by the site's content policy" in message for line, message in found), found

    lenses = await client.text_document_code_lens_async(t.CodeLensParams(t.TextDocumentIdentifier(uri=uri)))
    titles = {(lens.range.start.line + 1, lens.command.title) for lens in lenses if lens.command}
    assert (3, "Generate") in titles and (3, "Generate preview") in titles, titles
    assert (9, "Refused by policy") in titles

    shown = await client.text_document_hover_async(
        t.HoverParams(t.TextDocumentIdentifier(uri=uri), t.Position(line=2, character=5))
    )
    assert shown is not None and "A red kite over a hill" in shown.contents.value and "missing" in shown.contents.value

    # Typing fixes the broken directive: its diagnostic goes, as the build's would.
    fixed = PAGE.replace("{frames=7}", "{frames=9}")
    change(client, uri, 2, fixed)
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert 7 not in [d.range.start.line + 1 for d in client.diagnostics[uri]]

    # A burst of keystrokes is analysed once, as it ends.
    for version, text in enumerate([PAGE, fixed.replace("{frames=9}", "{frames=8}"), PAGE, fixed], start=10):
        change(client, uri, version, text)
    published = await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert published.version == 13  # the first analysis after the burst is of its last text
    assert 7 not in [d.range.start.line + 1 for d in client.diagnostics[uri]]

    typing = fixed + "\n<!-- @video-gen A boat {fr"
    change(client, uri, 20, typing)
    end = typing.splitlines()[-1]
    completion = await client.text_document_completion_async(
        t.CompletionParams(
            t.TextDocumentIdentifier(uri=uri), t.Position(line=len(typing.splitlines()) - 1, character=len(end))
        )
    )
    labels = {item.label for item in completion.items}
    assert {"frames", "size", "seed", "caption"} <= labels, labels

    (root / "docs" / "img").mkdir()
    (root / "docs" / "img" / "start.png").write_bytes(b"")
    for typed, expected in (
        ("size=", {"1280x704", "704x1280"}),
        ("image=", {"img/start.png"}),
        ("template=", {"product"}),
        ("template=product ", {"name", "color", "frames"}),  # the template's fields, with the options
    ):
        text = fixed + f"\n<!-- @video-gen A boat {{{typed}"
        change(client, uri, 30 + len(text), text)
        at = t.Position(line=len(text.splitlines()) - 1, character=len(text.splitlines()[-1]))
        values = await client.text_document_completion_async(t.CompletionParams(t.TextDocumentIdentifier(uri=uri), at))
        assert expected <= {item.label for item in values.items}, (typed, values.items)

    kept = await ask(client, "mkdocs-wan/templates", {"uri": uri})
    assert [(row["name"], row["fields"]) for row in kept] == [("product", ["name", "color"])]
    # The clip "under the cursor" is the nearest directive at or above it; none above: nothing.
    assert (await ask(client, "mkdocs-wan/clipAt", {"uri": uri, "line": 0})) == {}
    below = await ask(client, "mkdocs-wan/clipAt", {"uri": uri, "line": 4})
    assert (below["line"], below["state"], below["path"]) == (2, "missing", None)
    for hostile in ({}, {"uri": 5, "line": "x"}, {"uri": "file:///etc/passwd", "line": 1}):
        assert (await ask(client, "mkdocs-wan/clipAt", hostile)) == {}


@pytest.mark.asyncio
async def test_generate_through_the_service_and_the_lens_follows_the_clip(client: LanguageClient, tmp_path):
    from conftest import Site
    from test_service import Service

    site = Site(tmp_path, tmp_path / "cache")
    page = site.page("index.md", "# Kite\n\n<!-- @video-gen A kite for the editor -->\n")
    running = Service(site)
    try:
        uri = page.as_uri()
        text = page.read_text()
        client.text_document_did_open(
            t.DidOpenTextDocumentParams(t.TextDocumentItem(uri=uri, language_id="markdown", version=1, text=text))
        )
        await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        lenses = await client.text_document_code_lens_async(t.CodeLensParams(t.TextDocumentIdentifier(uri=uri)))
        generate = next(lens.command for lens in lenses if lens.command.title == "Generate")
        answer = await client.workspace_execute_command_async(
            t.ExecuteCommandParams(command=generate.command, arguments=generate.arguments)
        )
        assert answer["status"] in ("queued", "running", "succeeded"), answer
        # The server follows the job and pushes its progress (nobody asks for lenses meanwhile).
        seen: list[str] = []
        async with asyncio.timeout(120):
            while not seen or seen[-1] not in ("succeeded", "failed"):
                pushed = await client.wait_for_notification("mkdocs-wan/progress")
                seen.append(pushed.clips[0].status)
        assert seen[-1] == "succeeded" and pushed.clips[0].title == "A kite for the editor", seen
        lenses = await client.text_document_code_lens_async(t.CodeLensParams(t.TextDocumentIdentifier(uri=uri)))
        titles = [lens.command.title for lens in lenses]
        assert any(title.startswith("Play (cached, ") for title in titles), titles
        assert "service: made " in running.output()

        clip = await ask(client, "mkdocs-wan/clipAt", {"uri": uri, "line": 2})
        path = Path(clip["path"])
        assert clip["state"] == "succeeded" and path.is_file() and path.parent == Path(clip["clips_dir"])
        state = await ask(client, "mkdocs-wan/status", {"uri": uri})
        assert state["service"]["state"] == "ready" and state["page"].startswith("http://127.0.0.1:")
    finally:
        running.stop()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "mkdocs_wan", "lsp"]))
async def refreshing(lsp_client: LanguageClient):
    """A client that, as VS Code does, can be asked to fetch its lenses again."""
    lsp_client.refreshed = 0

    @lsp_client.feature(t.WORKSPACE_CODE_LENS_REFRESH)
    def refresh(_params: None) -> None:
        lsp_client.refreshed += 1

    workspace = t.WorkspaceClientCapabilities(code_lens=t.CodeLensWorkspaceClientCapabilities(refresh_support=True))
    await lsp_client.initialize_session(t.InitializeParams(capabilities=t.ClientCapabilities(workspace=workspace)))
    yield
    await lsp_client.shutdown_session()


@pytest.mark.asyncio
async def test_lenses_answer_at_once_and_are_refreshed_when_the_analysis_lands(refreshing: LanguageClient, tmp_path):
    """VS Code waits between lens requests as long as they took to answer: a lens request that
    waited for the page's analysis (the site's first load: seconds) would hold back every later
    update, the progress of a clip included. So it answers from what is known, and the server asks
    for lenses again when the analysis lands."""
    client = refreshing
    root = _site(tmp_path / "site")
    # The site's load waits until the test lets it go (a `hooks:` file, as a slow plugin would): the
    # first lens request is then surely asked while the analysis is under way, however fast it is.
    release = tmp_path / "release"
    (root / "slow.py").write_text(
        "import pathlib, time\n"
        "def on_config(config):\n"
        "    deadline = time.monotonic() + 60\n"
        f"    while not pathlib.Path({str(release)!r}).exists() and time.monotonic() < deadline:\n"
        "        time.sleep(0.02)\n"
    )
    config = yaml.safe_load((root / "mkdocs.yml").read_text())
    (root / "mkdocs.yml").write_text(yaml.safe_dump({**config, "hooks": ["slow.py"]}))
    page = root / "docs" / "guide.md"
    page.write_text(PAGE)
    uri = page.as_uri()
    client.text_document_did_open(
        t.DidOpenTextDocumentParams(t.TextDocumentItem(uri=uri, language_id="markdown", version=1, text=PAGE))
    )
    async with asyncio.timeout(20):  # answered although the site has not even loaded
        first = await client.text_document_code_lens_async(t.CodeLensParams(t.TextDocumentIdentifier(uri=uri)))
    assert not first and not client.diagnostics.get(uri) and not client.refreshed
    release.touch()
    await client.wait_for_notification(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    async with asyncio.timeout(10):
        while not client.refreshed:
            await asyncio.sleep(0.05)
    lenses = await client.text_document_code_lens_async(t.CodeLensParams(t.TextDocumentIdentifier(uri=uri)))
    assert (3, "Generate") in {(lens.range.start.line + 1, lens.command.title) for lens in lenses}
