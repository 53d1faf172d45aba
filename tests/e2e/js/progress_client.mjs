// The official TypeScript MCP client calls a slow tool over stdio with a request timeout
// shorter than the call, asking for progress. argv: <command> <args json> <tool> <args json>
// <timeout ms> <reset on progress: 0|1>. Prints one JSON line: {ok, progress, ms, error}.
// MCP_CLIENT_DIR: the package's directory (the test toolchain's node_modules).
const base = process.env.MCP_CLIENT_DIR;
const { Client } = await import(`${base}/dist/index.mjs`);
const { StdioClientTransport } = await import(`${base}/dist/stdio.mjs`);

const [command, argsJson, tool, toolArgsJson, timeoutMs, reset] = process.argv.slice(2);
const transport = new StdioClientTransport({
  command,
  args: JSON.parse(argsJson),
  env: process.env,
  stderr: "ignore",
});
const client = new Client({ name: "progress-probe", version: "0" });
const progress = [];
let started = Date.now();
let out;
try {
  await client.connect(transport);
  started = Date.now(); // time the call alone
  const result = await client.callTool(
    { name: tool, arguments: JSON.parse(toolArgsJson) },
    {
      timeout: Number(timeoutMs),
      resetTimeoutOnProgress: reset === "1",
      onprogress: (p) => progress.push(p),
    },
  );
  out = { ok: !result.isError, progress, ms: Date.now() - started, text: result.content?.[0]?.text };
} catch (err) {
  out = { ok: false, progress, ms: Date.now() - started, error: String(err?.message ?? err) };
}
console.log(JSON.stringify(out));
await client.close().catch(() => {});
process.exit(0);
