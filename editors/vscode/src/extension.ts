// mkdocs-wan for VS Code: a thin client of `mkdocs-wan lsp` (diagnostics, CodeLens, hover,
// completion come from the language server, which is the build's own engine) plus what only an
// editor can do: a player beside the page, a status bar, inserting a directive, starting the local
// service. In an untrusted folder nothing runs (the server reads the folder's mkdocs.yml).
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";
import { ClipAt, Followed, Status, directive, statusBar } from "./logic";
import { Player } from "./player";

const POLL_MS = 3000;

interface Answer {
  error?: string;
  key?: string;
  status?: string;
}

class Extension implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private service: ChildProcess | undefined;
  private status: Status | undefined;
  private editor: vscode.TextEditor | undefined;
  private place: { uri: string; line: number } | undefined; // what the player shows: a lens's clip, or the cursor's
  private readonly bar = vscode.window.createStatusBarItem("mkdocs-wan.status", vscode.StatusBarAlignment.Left, 50);
  private readonly player = new Player();
  private readonly log = vscode.window.createOutputChannel("mkdocs-wan");
  private readonly serviceLog = vscode.window.createOutputChannel("mkdocs-wan service");
  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;
  private cursorTimer: NodeJS.Timeout | undefined;

  constructor() {
    this.bar.name = "mkdocs-wan";
    this.draw();
    this.bar.show();
    const command = (name: string, run: (...args: any[]) => unknown) => this.disposables.push(vscode.commands.registerCommand(name, run));
    command("mkdocs-wan.play", (uri: string, line: number) => this.showClip(uri, line - 1, true));
    command("mkdocs-wan.review", () => this.openServicePage());
    command("mkdocs-wan.showPlayer", () => this.followCursor(true));
    command("mkdocs-wan.insertDirective", () => this.insertDirective());
    command("mkdocs-wan.startService", () => this.startService());
    command("mkdocs-wan.openServicePage", () => this.openServicePage());
    command("mkdocs-wan.cancelRunning", () => this.cancelRunning());
    this.editor = this.markdown(vscode.window.activeTextEditor);
    this.disposables.push(
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (this.markdown(editor)) {
          this.editor = editor;
          void this.refresh();
        }
      }),
      vscode.window.onDidChangeTextEditorSelection((event) => {
        if (event.textEditor === this.editor && this.player.visible) {
          clearTimeout(this.cursorTimer);
          this.cursorTimer = setTimeout(() => void this.followCursor(false), 150);
        }
      }),
    );
  }

  private markdown(editor: vscode.TextEditor | undefined): vscode.TextEditor | undefined {
    return editor !== undefined && editor.document.languageId === "markdown" && editor.document.uri.scheme === "file" ? editor : undefined;
  }

  private config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration("mkdocsWan");
  }

  /** The mkdocs-wan command: a machine-scoped setting, so a workspace cannot choose what runs. */
  private command(): string[] {
    const value = this.config().get<string[]>("command");
    return Array.isArray(value) && value.length > 0 && value.every((part) => typeof part === "string") ? value : ["mkdocs-wan"];
  }

  async start(): Promise<void> {
    if (!vscode.workspace.isTrusted || this.client !== undefined) return;
    const [program, ...args] = this.command();
    const server: ServerOptions = { command: program, args: [...args, "lsp"] };
    const options: LanguageClientOptions = {
      documentSelector: [{ scheme: "file", language: "markdown" }],
      outputChannel: this.log,
      middleware: { executeCommand: (name, args, next) => this.execute(name, args, next) },
    };
    this.client = new LanguageClient("mkdocs-wan", "mkdocs-wan", server, options);
    this.client.onNotification("mkdocs-wan/progress", (pushed: { clips: Followed[] }) => {
      if (this.status !== undefined) this.status.following = pushed.clips;
      this.draw();
      if (!pushed.clips.some((clip) => clip.status === "queued" || clip.status === "running")) void this.refresh();
      if (this.place !== undefined) void this.showClip(this.place.uri, this.place.line, false);
    });
    await this.client.start();
    this.timer = setInterval(() => void this.refresh(), POLL_MS);
    await this.refresh();
  }

  /** Server commands (Generate, Cancel) pass through here: a missing service is offered (or
   * started, when `mkdocsWan.service.autoStart` says so) and the request sent again. */
  private async execute(name: string, args: any[], next: (name: string, args: any[]) => any): Promise<unknown> {
    if (name === "mkdocs-wan.generate" && !vscode.workspace.isTrusted) return undefined;
    let answer: Answer | undefined = await next(name, args);
    if (name === "mkdocs-wan.generate" && answer?.error?.includes("no mkdocs-wan service runs") && (await this.offerService())) {
      answer = await next(name, args);
    }
    if (answer?.error) {
      void vscode.window.showWarningMessage(`mkdocs-wan: ${answer.error}`);
    } else if (name === "mkdocs-wan.generate") {
      await this.showClip(args[0], args[1] - 1, true);
    }
    await this.refresh();
    return answer;
  }

  private async ask<T>(method: string, params: object): Promise<T | undefined> {
    if (this.client === undefined || !this.client.isRunning()) return undefined;
    try {
      return await this.client.sendRequest<T>(method, params);
    } catch (err) {
      this.log.appendLine(`${method}: ${String(err)}`);
      return undefined;
    }
  }

  private async refresh(): Promise<void> {
    if (this.editor !== undefined) {
      this.status = await this.ask<Status>("mkdocs-wan/status", { uri: this.editor.document.uri.toString() });
    }
    this.draw();
  }

  private draw(): void {
    const shown = statusBar(this.status, vscode.workspace.isTrusted);
    this.bar.text = shown.text;
    this.bar.tooltip = shown.tooltip;
    this.bar.command = shown.command;
  }

  private async showClip(uri: string, line: number, open: boolean): Promise<void> {
    this.place = { uri, line };
    const clip = await this.ask<ClipAt>("mkdocs-wan/clipAt", { uri, line });
    if (clip !== undefined) this.player.show(clip, open);
  }

  private async followCursor(open: boolean): Promise<void> {
    const editor = this.editor;
    if (editor === undefined || (!open && !this.config().get<boolean>("player.followCursor", true))) return;
    await this.showClip(editor.document.uri.toString(), editor.selection.active.line, open);
  }

  private async offerService(): Promise<boolean> {
    if (!this.config().get<boolean>("service.autoStart", false)) {
      const start = "Start service";
      const picked = await vscode.window.showInformationMessage("No mkdocs-wan service runs for this site. Start one? It loads the model once and keeps it for every clip.", start);
      if (picked !== start) return false;
    }
    return this.startService();
  }

  /** Start `mkdocs-wan service -f <the site's mkdocs.yml>` as this editor's child (it stops with
   * the editor) and wait until it says it is ready. */
  async startService(): Promise<boolean> {
    if (!vscode.workspace.isTrusted) return false;
    await this.refresh();
    const site = this.status?.site;
    if (!site) {
      void vscode.window.showWarningMessage("mkdocs-wan: open a page of a site that uses the plugin first.");
      return false;
    }
    if (this.status?.service) return true;
    if (this.service === undefined || this.service.exitCode !== null) {
      const [program, ...args] = this.command();
      // A free port: two sites' services never collide; the language server finds it through service.json.
      const serviceArgs = [...args, "service", "-f", site, "--port", "0"];
      this.serviceLog.appendLine(`$ ${[program, ...serviceArgs].join(" ")}`);
      const child = spawn(program, serviceArgs, { cwd: path.dirname(site), stdio: ["ignore", "pipe", "pipe"] });
      child.stdout?.on("data", (data: Buffer) => this.serviceLog.append(data.toString()));
      child.stderr?.on("data", (data: Buffer) => this.serviceLog.append(data.toString()));
      child.on("error", (err) => this.serviceLog.appendLine(`could not start: ${err.message}`));
      this.service = child;
    }
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: "mkdocs-wan: starting the service" }, async () => {
      for (let waited = 0; waited < 600; waited++) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        await this.refresh();
        const state = this.status?.service?.state;
        if (state === "ready" || state === "busy") return true;
        if (state === "failed" || this.service?.exitCode !== null) break;
      }
      this.serviceLog.show(true);
      void vscode.window.showErrorMessage("mkdocs-wan: the service did not start; its output is in the \"mkdocs-wan service\" panel.");
      return false;
    });
  }

  private async openServicePage(): Promise<void> {
    await this.refresh();
    if (this.status?.page) await vscode.env.openExternal(vscode.Uri.parse(this.status.page));
    else void vscode.window.showInformationMessage("mkdocs-wan: no service runs for this site.");
  }

  private async cancelRunning(): Promise<void> {
    const busy = this.status?.following.find((clip) => clip.status === "queued" || clip.status === "running");
    if (busy !== undefined) await vscode.commands.executeCommand("mkdocs-wan.cancel", busy.key);
  }

  private async insertDirective(): Promise<void> {
    const editor = this.markdown(vscode.window.activeTextEditor);
    if (editor === undefined) return;
    const templates = (await this.ask<{ name: string; fields: string[] }[]>("mkdocs-wan/templates", { uri: editor.document.uri.toString() })) ?? [];
    const plain = { label: "A prompt", description: "describe the clip", template: undefined };
    const picked = await vscode.window.showQuickPick([plain, ...templates.map((t) => ({ label: t.name, description: `template: ${t.fields.join(", ")}`, template: t }))], { title: "Insert video directive" });
    if (picked === undefined) return;
    const values: Record<string, string> = {};
    for (const field of picked.template?.fields ?? []) {
      const value = await vscode.window.showInputBox({ title: `${picked.label}: ${field}`, prompt: `The value of {${field}}` });
      if (value === undefined) return;
      values[field] = value;
    }
    const prompt = picked.template === undefined ? await vscode.window.showInputBox({ title: "Insert video directive", prompt: "What the clip shows" }) : "";
    if (prompt === undefined) return;
    let text: string;
    try {
      text = directive(prompt, picked.template, values);
    } catch (err) {
      void vscode.window.showWarningMessage(`mkdocs-wan: ${(err as Error).message}`);
      return;
    }
    const line = editor.document.lineAt(editor.selection.active.line);
    await editor.edit((edit) => (line.isEmptyOrWhitespace ? edit.replace(line.range, text) : edit.insert(line.range.end, `\n\n${text}\n`)));
  }

  async dispose(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.cursorTimer);
    this.disposables.forEach((d) => d.dispose());
    this.player.dispose();
    this.bar.dispose();
    if (this.service !== undefined && this.service.exitCode === null) this.service.kill("SIGTERM");
    await this.client?.stop();
  }
}

let extension: Extension | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extension = new Extension();
  context.subscriptions.push(vscode.workspace.onDidGrantWorkspaceTrust(() => void extension?.start()));
  await extension.start();
}

export async function deactivate(): Promise<void> {
  await extension?.dispose();
}
