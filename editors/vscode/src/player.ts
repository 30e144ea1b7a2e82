// The clip player: a webview beside the editor that plays the clip of the directive at or above
// the cursor from the cache's file (never the service's URL: the built-in preview's CSP blocks
// http://127.0.0.1, and a file needs no token). Its one local resource root is the clips folder.
import * as crypto from "crypto";
import * as vscode from "vscode";
import { ClipAt, playerHtml } from "./logic";

export class Player implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private root: string | undefined;
  private shown = "";

  get visible(): boolean {
    return this.panel !== undefined;
  }

  /** Show `clip` (opening the panel beside the editor when `open`); a clip already shown in the
   * same state is left playing. */
  show(clip: ClipAt, open: boolean): void {
    if (this.panel === undefined && !open) return;
    if (clip.clips_dir !== undefined && clip.clips_dir !== this.root) {
      this.panel?.dispose(); // resource roots are fixed when a panel is made: another site, another panel
      this.root = clip.clips_dir;
    }
    if (this.panel === undefined) {
      const roots = this.root !== undefined ? [vscode.Uri.file(this.root)] : [];
      this.panel = vscode.window.createWebviewPanel("mkdocsWan.player", "Clip", { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, { enableScripts: true, localResourceRoots: roots });
      this.panel.onDidDispose(() => {
        this.panel = undefined;
        this.shown = "";
      });
      this.shown = "";
    }
    // A playable clip is drawn once (drawing again would restart it); a waiting one follows its progress.
    const state = JSON.stringify(clip.path ? [clip.key, clip.state, clip.path] : [clip.key, clip.state, clip.progress?.status, clip.progress?.step]);
    if (state === this.shown) return;
    this.shown = state;
    const webview = this.panel.webview;
    const sources = {
      video: clip.path ? webview.asWebviewUri(vscode.Uri.file(clip.path)).toString() : undefined,
      poster: clip.poster ? webview.asWebviewUri(vscode.Uri.file(clip.poster)).toString() : undefined,
    };
    this.panel.title = clip.title ? `Clip: ${clip.title}` : "Clip";
    webview.html = playerHtml(clip, sources, webview.cspSource, crypto.randomBytes(16).toString("base64"));
  }

  dispose(): void {
    this.panel?.dispose();
  }
}
