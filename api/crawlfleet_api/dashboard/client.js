// The dashboard's only way to the API: every request carries the session's token
// in the Authorization header, never in a URL (URLs land in access logs and history).

const TOKEN_KEY = "crawlfleet.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const session = {
  // sessionStorage: the token lives as long as the tab, and no other site can read it.
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  onUnauthorized: () => {},
};

function headers(extra = {}) {
  const all = { Accept: "application/json", ...extra };
  if (session.token) all.Authorization = `Bearer ${session.token}`;
  return all;
}

// The API's own words for what went wrong: `detail` is a sentence, or a 422's list of fields.
async function problem(response) {
  let detail = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (typeof body.detail === "string") detail = body.detail;
    else if (Array.isArray(body.detail)) {
      detail = body.detail
        .map((error) => `${error.loc.filter((part) => part !== "body").join(".")}: ${error.msg}`)
        .join("; ");
    }
  } catch {
    // Not JSON (a proxy's error page): the status line says enough.
  }
  return new ApiError(response.status, detail);
}

export async function request(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  if (response.status === 401) session.onUnauthorized();
  if (!response.ok) throw await problem(response);
  return response.status === 204 ? null : response.json();
}

// Whether the API takes `token`, before it becomes the session's.
export async function accepts(token) {
  const response = await fetch("/v1/jobs?limit=1", {
    headers: { Accept: "application/json", Authorization: `Bearer ${token}` },
  });
  if (response.status === 401) return false;
  if (!response.ok) throw await problem(response);
  return true;
}

// A response's text as it arrives (a followed log, an event stream), read with fetch()
// because EventSource cannot send an Authorization header. Ends when the server ends it.
export async function* textChunks(path, signal, accept = "text/plain") {
  const response = await fetch(path, { headers: headers({ Accept: accept }), signal });
  if (response.status === 401) session.onUnauthorized();
  if (!response.ok) throw await problem(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    yield value;
  }
}

// Server-Sent Events: yields {event, data} until the server ends the stream.
export async function* events(path, signal) {
  let buffer = "";
  for await (const chunk of textChunks(path, signal, "text/event-stream")) {
    buffer = (buffer + chunk).replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue; // a keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = text;
        else if (field === "data") data.push(text);
      }
      if (data.length) yield { event, data: data.join("\n") };
    }
  }
}

// A download through fetch, so that it carries the token; the browser saves the blob
// under the name the API's Content-Disposition gives.
export async function download(path, fallbackName) {
  const response = await fetch(path, { headers: headers({ Accept: "*/*" }) });
  if (response.status === 401) session.onUnauthorized();
  if (!response.ok) throw await problem(response);
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] || fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
