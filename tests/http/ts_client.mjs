// Drives a wassette server over streamable HTTP with the official TypeScript SDK
// (@modelcontextprotocol/client, v2: the 2026-07-28 protocol), and prints what it saw as JSON.
//   node ts_client.mjs <module path of @modelcontextprotocol/client> <url> <tool> <args JSON>
const [modulePath, url, tool, argsJson] = process.argv.slice(2);
const { Client, StreamableHTTPClientTransport } = await import(modulePath);

const client = new Client(
  { name: "wassette-tests", version: "1.0.0" },
  { versionNegotiation: { mode: "auto" } },
);
const transport = new StreamableHTTPClientTransport(new URL(url));
try {
  await client.connect(transport);
  const listed = await client.listTools();
  const result = await client.callTool({ name: tool, arguments: JSON.parse(argsJson) });
  const protocol =
    (typeof client.getNegotiatedProtocolVersion === "function"
      ? client.getNegotiatedProtocolVersion()
      : undefined) ?? client._negotiatedProtocolVersion ?? null;
  console.log(
    JSON.stringify({
      protocol,
      sessionId: transport.sessionId ?? null,
      tools: listed.tools.map((t) => t.name),
      structured: result.structuredContent ?? null,
      text: result.content?.[0]?.text ?? null,
      isError: result.isError ?? false,
    }),
  );
} finally {
  await client.close();
}
