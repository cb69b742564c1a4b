// The official npm openai SDK against a whole Gatehouse gateway (real keys,
// pipeline, call log, budgets): only baseURL and apiKey are changed. Prints
// one JSON object for the Go test (aisdk_npm_test.go) to check.
//
// ROUTES is a JSON object {name: {baseURL, model}}.
// MODE=calls (API_KEY): chat plain and streamed, tool calls plain and
// streamed, the tool result's turn, embeddings; output {name: results}.
// MODE=errors (KEYS, a JSON object {label: key}): one plain and one
// streamed chat per route and key, each expected to fail; output
// {label: {name: {plain, stream}}}.
const { OpenAI } = require("openai");

const user = { role: "user", content: "Why is the sky blue?" };
const tools = [{ type: "function", function: { name: "get_weather", description: "Weather of a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];

async function streamed(client, params) {
  const { data: s, request_id } = await client.chat.completions.create({ ...params, stream: true }).withResponse();
  let text = "", usage = null, usageChunks = 0, finish = null;
  const calls = {};
  for await (const ch of s) {
    if (ch.usage) { usage = ch.usage; usageChunks++; }
    const c = ch.choices[0];
    if (!c) continue;
    if (c.delta.content) text += c.delta.content;
    for (const d of c.delta.tool_calls ?? []) {
      const t = (calls[d.index] ??= { id: "", name: "", arguments: "" });
      if (d.id) t.id = d.id;
      if (d.function?.name) t.name += d.function.name;
      if (d.function?.arguments) t.arguments += d.function.arguments;
    }
    if (c.finish_reason) finish = c.finish_reason;
  }
  return { text, usage, usageChunks, finish, toolCalls: Object.values(calls), requestID: request_id };
}

function apiError(e) {
  if (!(e instanceof OpenAI.APIError)) throw e;
  return { status: e.status ?? 0, code: e.code ?? "", param: e.param ?? "", message: String(e.message),
    requestID: e.requestID ?? "", header: e.headers?.get("x-request-id") ?? "" };
}

async function calls(client, model) {
  const out = {};
  const { data: plain, request_id } = await client.chat.completions.create({ model, messages: [user] }).withResponse();
  out.plain = { text: plain.choices[0].message.content, usage: plain.usage, finish: plain.choices[0].finish_reason, requestID: request_id };
  out.stream = await streamed(client, { model, messages: [user], stream_options: { include_usage: true } });

  const ask = { role: "user", content: "Weather in Paris?" };
  const t = await client.chat.completions.create({ model, messages: [ask], tools }).withResponse();
  const msg = t.data.choices[0].message;
  out.tools = { finish: t.data.choices[0].finish_reason, usage: t.data.usage, requestID: t.request_id,
    toolCalls: msg.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })) };
  out.toolsStream = await streamed(client, { model, messages: [ask], tools });
  const final = await client.chat.completions.create({ model, tools,
    messages: [ask, msg, { role: "tool", tool_call_id: msg.tool_calls[0].id, content: '{"temp":21}' }] });
  out.toolResult = final.choices[0].message.content;

  try {
    // The SDK asks for base64 by default and decodes it.
    const { data: e, request_id: rid } = await client.embeddings.create({ model, input: ["hello", "world!"] }).withResponse();
    out.embeddings = { data: e.data.map((d) => Array.from(d.embedding)), usage: e.usage, requestID: rid };
  } catch (e) {
    out.embeddingsError = apiError(e);
  }
  return out;
}

async function failures(client, model) {
  const out = {};
  try {
    await client.chat.completions.create({ model, messages: [user] });
    out.plain = null;
  } catch (e) {
    out.plain = apiError(e);
  }
  try {
    await streamed(client, { model, messages: [user] });
    out.stream = null;
  } catch (e) {
    out.stream = apiError(e);
  }
  return out;
}

async function main() {
  const routes = Object.entries(JSON.parse(process.env.ROUTES));
  const all = {};
  if (process.env.MODE === "calls") {
    for (const [name, r] of routes) {
      all[name] = await calls(new OpenAI({ baseURL: r.baseURL, apiKey: process.env.API_KEY, maxRetries: 0 }), r.model);
    }
  } else {
    for (const [label, key] of Object.entries(JSON.parse(process.env.KEYS))) {
      all[label] = {};
      for (const [name, r] of routes) {
        all[label][name] = await failures(new OpenAI({ baseURL: r.baseURL, apiKey: key, maxRetries: 0 }), r.model);
      }
    }
  }
  process.stdout.write(JSON.stringify(all));
}

main().catch((e) => { console.error(e); process.exit(1); });
