// The official npm openai SDK against Gatehouse's AI handler: only baseURL
// and apiKey are changed. Prints one JSON object for the Go test to check.
const { OpenAI } = require("openai");

// BASE_URLS is a JSON object {name: baseURL}; the output is {name: results}.
let client;
const user = { role: "user", content: "Why is the sky blue?" };
const tools = [{ type: "function", function: { name: "get_weather", description: "Weather of a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];

async function streamed(params) {
  const s = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
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
  return { text, usage, usageChunks, finish, toolCalls: Object.values(calls) };
}

function apiError(e) {
  return { status: e.status, code: e.code, param: e.param ?? null, message: e.message, requestID: e.requestID ?? null };
}

async function run() {
  const out = {};
  const plain = await client.chat.completions.create({ model: "m", messages: [user] });
  out.plain = { text: plain.choices[0].message.content, usage: plain.usage, finish: plain.choices[0].finish_reason };
  out.stream = await streamed({ model: "m", messages: [user] });

  const ask = { role: "user", content: "Weather in Paris?" };
  const t = await client.chat.completions.create({ model: "m", messages: [ask], tools });
  const msg = t.choices[0].message;
  out.tools = { finish: t.choices[0].finish_reason, toolCalls: msg.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })) };
  out.toolsStream = await streamed({ model: "m", messages: [ask], tools });
  const final = await client.chat.completions.create({ model: "m", tools,
    messages: [ask, msg, { role: "tool", tool_call_id: msg.tool_calls[0].id, content: '{"temp":21}' }] });
  out.toolResult = final.choices[0].message.content;

  try {
    // The SDK asks for base64 by default and decodes it.
    const e = await client.embeddings.create({ model: "m", input: ["hello", "world!"] });
    out.embeddings = { data: e.data.map((d) => Array.from(d.embedding)), usage: e.usage };
  } catch (e) {
    out.embeddingsError = apiError(e);
  }

  try {
    await client.chat.completions.create({ model: "other", messages: [user] });
    out.notAllowed = null;
  } catch (e) {
    out.notAllowed = apiError(e);
  }

  try {
    await streamed({ model: "m", messages: [{ role: "user", content: "fail mid-stream" }] });
    out.midStream = null;
  } catch (e) {
    out.midStream = { message: String(e.message), code: e.code ?? null };
  }
  return out;
}

async function main() {
  const all = {};
  for (const [name, baseURL] of Object.entries(JSON.parse(process.env.BASE_URLS))) {
    client = new OpenAI({ baseURL, apiKey: process.env.API_KEY, maxRetries: 0 });
    all[name] = await run();
  }
  process.stdout.write(JSON.stringify(all));
}

main().catch((e) => { console.error(e); process.exit(1); });
