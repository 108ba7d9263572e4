// The dashboard: hash-routed views over the crawlfleet API. Plain DOM, no framework;
// text goes in through textContent only, so nothing a crawl scraped can become markup.

import { accepts, ApiError, download, events, request, session, textChunks } from "/ui/client.js";

const STATES = ["PENDING", "RECEIVED", "STARTED", "PROGRESS", "SUCCESS", "FAILURE", "RETRY", "REVOKED"];
const FINISHED = new Set(["SUCCESS", "FAILURE", "REVOKED"]);
// A browser opens at most six HTTP/1.1 connections to one server; live rows keep
// some of them open, so at most this many rows stream and the rest follow the list.
const MAX_LIVE_ROWS = 4;
const LIST_REFRESH_MS = 5000;
const ITEMS_PAGE = 50;
// The job page keeps the newest lines of the log it follows; the API has all of them.
const LOG_TAIL_LINES = 1000;

const view = document.getElementById("view");
const notice = document.getElementById("notice");
let settings = { authRequired: false, flowerUrl: null };
// Everything the current view keeps running (streams, timers) stops when the view changes.
let viewScope = new AbortController();

// ---- DOM helpers -------------------------------------------------------------

function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined));
  return element;
}

function say(message, kind = "info") {
  notice.replaceChildren(message ? h("p", { class: `notice ${kind}` }, message) : "");
}

function fail(error) {
  if (error.name === "AbortError") return;
  say(error instanceof ApiError ? error.message : `The API could not be reached: ${error.message}`, "error");
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

function seconds(total) {
  if (total < 60) return `${total.toFixed(total < 10 ? 1 : 0)} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes} min ${Math.round(total % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function duration(job) {
  const start = job.startedAt || job.receivedAt;
  if (!start) return "—";
  const end = job.finishedAt ? new Date(job.finishedAt) : new Date();
  return seconds(Math.max(0, (end - new Date(start)) / 1000));
}

function badge(state) {
  return h("span", { class: `badge state-${state.toLowerCase()}` }, state);
}

function progressBar(job, label) {
  const { pages, items, errors, percent } = job.progress;
  const bar = h("progress", { max: "100", value: String(percent), "aria-label": label });
  const text = `${pages} pages · ${items} items · ${errors} errors · ${Math.round(percent)}%`;
  return h("div", { class: "progress" }, bar, h("span", { class: "progress-text" }, text));
}

function spiderOf(job) {
  return job.project ? `${job.project}/${job.spider}` : "built-in";
}

function shortId(id) {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

// Follow a job's event stream until it finishes, calling `update` with each status;
// reconnect after a dropped connection, as EventSource would.
async function follow(jobId, update, signal) {
  let delay = 1000;
  while (!signal.aborted) {
    try {
      for await (const message of events(`/v1/jobs/${encodeURIComponent(jobId)}/events`, signal)) {
        if (message.event !== "status") continue;
        const job = JSON.parse(message.data);
        update(job);
        delay = 1000;
        if (FINISHED.has(job.state)) return;
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status !== 503) return fail(error);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 15000);
  }
}

async function cancel(job, onCancelled) {
  if (!window.confirm(`Cancel job ${job.id}? A running crawl is stopped.`)) return;
  try {
    const cancelled = await request("DELETE", `/v1/jobs/${encodeURIComponent(job.id)}`);
    say(`Job ${job.id} cancelled.`);
    onCancelled(cancelled);
  } catch (error) {
    fail(error);
  }
}

function cancelButton(job, onCancelled) {
  if (FINISHED.has(job.state)) return null;
  return h(
    "button",
    { type: "button", class: "danger", "aria-label": `Cancel job ${job.id}`, onclick: () => cancel(job, onCancelled) },
    "Cancel",
  );
}

// ---- Jobs --------------------------------------------------------------------

function jobRow(job) {
  const row = h("tr", { "data-job": job.id });
  row.fill = (current) => {
    row.dataset.state = current.state;
    row.replaceChildren(
      h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(current.id)}`, title: current.id }, shortId(current.id))),
      h("td", {}, badge(current.state)),
      h("td", {}, current.queue),
      h("td", {}, spiderOf(current)),
      h("td", {}, when(current.submittedAt)),
      h("td", {}, duration(current)),
      h("td", {}, progressBar(current, `Progress of job ${current.id}`)),
      h("td", {}, cancelButton(current, row.fill)),
    );
  };
  row.fill(job);
  return row;
}

// The jobs list's filters: the query of the page's hash and of the API call alike.
const JOB_FILTERS = ["state", "queue", "project", "spider"];

function jobsView(params) {
  const state = params.get("state") || "";
  const text = (name, label, size, maxlength) =>
    h("label", {}, `${label} `, h("input", { name, value: params.get(name) || "", maxlength, size }));
  const filters = h(
    "form",
    { class: "filters", role: "search", onsubmit: (event) => {
      event.preventDefault();
      const form = new FormData(event.target);
      const query = new URLSearchParams([...form].filter(([, value]) => value));
      location.hash = `#/jobs${query.size ? `?${query}` : ""}`;
    } },
    h("label", {}, "State ", h("select", { name: "state" },
      h("option", { value: "" }, "any"),
      STATES.map((name) => h("option", { value: name, selected: name === state }, name)))),
    text("queue", "Queue", "12", "63"),
    text("project", "Project", "14", "100"),
    text("spider", "Spider", "14", "128"),
    h("button", { type: "submit" }, "Filter"),
  );
  const body = h("tbody");
  const table = h(
    "table",
    { class: "jobs" },
    h("caption", {}, "Recent jobs, newest first"),
    h("thead", {}, h("tr", {},
      ["Job", "State", "Queue", "Spider", "Submitted", "Duration", "Progress", ""].map((name) => h("th", { scope: "col" }, name)))),
    body,
  );
  const more = h("button", { type: "button", hidden: true }, "Older jobs");
  const empty = h("p", { hidden: true }, "No jobs yet. ", h("a", { href: "#/submit" }, "Start a crawl"), ".");
  view.replaceChildren(h("h1", {}, "Jobs"), filters, table, empty, more);

  const rows = new Map();
  const live = new Set();
  let cursor = null;
  const scope = viewScope.signal;

  function stream(job) {
    if (FINISHED.has(job.state) || live.has(job.id) || live.size >= MAX_LIVE_ROWS) return;
    live.add(job.id);
    follow(job.id, (current) => rows.get(job.id)?.fill(current), scope).finally(() => live.delete(job.id));
  }

  function show(jobs, append) {
    for (const job of jobs) {
      const existing = rows.get(job.id);
      if (existing) {
        if (!live.has(job.id)) existing.fill(job);
      } else {
        const row = jobRow(job);
        rows.set(job.id, row);
        if (append) body.append(row);
        else body.prepend(row);
      }
      stream(job);
    }
    empty.hidden = rows.size > 0;
  }

  async function load(append) {
    const query = new URLSearchParams({ limit: "25" });
    for (const name of JOB_FILTERS) if (params.get(name)) query.set(name, params.get(name));
    if (append && cursor) query.set("cursor", cursor);
    const page = await request("GET", `/v1/jobs?${query}`);
    if (append || cursor === null) {
      cursor = page.nextCursor;
      more.hidden = !page.hasMore;
    }
    // Newest first from the API; prepending goes oldest first to keep that order.
    show(append ? page.jobs : [...page.jobs].reverse(), append);
  }

  more.addEventListener("click", () => load(true).catch(fail));
  load(false).catch(fail);
  const timer = setInterval(() => load(false).catch(fail), LIST_REFRESH_MS);
  scope.addEventListener("abort", () => clearInterval(timer));
}

// ---- One job -----------------------------------------------------------------

function statsTable(result) {
  const rows = Object.entries(result).map(([name, value]) =>
    h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, value === null ? "—" : String(value))));
  return h("table", { class: "stats" }, h("caption", {}, "Result"), h("tbody", {}, rows));
}

function itemsTable(items) {
  const columns = [...new Set(items.flatMap((item) => Object.keys(item)))];
  const cell = (value) => (value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value));
  return h(
    "table",
    { class: "items" },
    h("caption", {}, "Items"),
    h("thead", {}, h("tr", {}, columns.map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, items.map((item) => h("tr", {}, columns.map((name) => h("td", {}, cell(item[name])))))),
  );
}

// The job's crawl log, followed while the job runs (the API ends the stream when it
// ends); only the newest LOG_TAIL_LINES lines stay on the page.
function logSection(path, signal) {
  const text = h("pre", { class: "log", tabindex: "0", "aria-labelledby": "log-heading" });
  const state = h("p", { class: "log-state", role: "status" }, "Reading the log…");
  let lines = [];
  let partial = "";
  function show(chunk) {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop();
    lines = lines.concat(parts).slice(-LOG_TAIL_LINES);
    const atEnd = text.scrollTop + text.clientHeight >= text.scrollHeight - 4;
    text.textContent = lines.join("\n");
    if (atEnd) text.scrollTop = text.scrollHeight;
  }
  (async () => {
    try {
      state.textContent = "Following the log…";
      for await (const chunk of textChunks(`${path}/log?follow=true`, signal)) show(chunk);
      if (partial) show("\n");
      state.textContent = lines.length ? "The log is complete." : "The crawl logged nothing.";
    } catch (error) {
      if (signal.aborted) return;
      state.textContent = "The log could not be read.";
      fail(error);
    }
  })();
  return h("section", { "aria-labelledby": "log-heading" }, h("h2", { id: "log-heading" }, "Log"), state, text);
}

function jobView(jobId) {
  const path = `/v1/jobs/${encodeURIComponent(jobId)}`;
  const heading = h("h1", {}, "Job ", h("code", {}, jobId));
  const summary = h("section", { "aria-label": "Status" });
  const problems = h("section", { "aria-label": "Errors" });
  const itemsArea = h("div", { class: "items-area" });
  const pager = h("div", { class: "pager" });
  const downloads = h(
    "div",
    { class: "downloads" },
    h("button", { type: "button", onclick: () => download(`${path}/items.jsonl`, `${jobId}-items.jsonl`).catch(fail) }, "Download JSONL"),
    h("button", { type: "button", onclick: () => download(`${path}/items.csv`, `${jobId}-items.csv`).catch(fail) }, "Download CSV"),
  );
  view.replaceChildren(
    h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")),
    heading,
    summary,
    problems,
    h("section", { "aria-labelledby": "items-heading" }, h("h2", { id: "items-heading" }, "Items"), downloads, itemsArea, pager),
    logSection(path, viewScope.signal),
  );

  // The first page of items follows the job while it runs; later pages stay put.
  let itemsCounted = -1;
  function fill(job) {
    summary.replaceChildren(
      ...[h("div", { class: "status-line" }, badge(job.state), cancelButton(job, fill)),
      progressBar(job, "Progress of this job"),
      h("dl", { class: "facts" },
        h("dt", {}, "Queue"), h("dd", {}, job.queue),
        h("dt", {}, "Spider"), h("dd", {}, spiderOf(job)),
        job.version ? [h("dt", {}, "Version"), h("dd", {}, job.version)] : null,
        h("dt", {}, "Tenant"), h("dd", {}, job.tenant),
        h("dt", {}, "Submitted"), h("dd", {}, when(job.submittedAt)),
        h("dt", {}, "Started"), h("dd", {}, when(job.startedAt)),
        h("dt", {}, "Finished"), h("dd", {}, when(job.finishedAt)),
        h("dt", {}, "Duration"), h("dd", {}, duration(job))),
      job.result ? statsTable(job.result) : null].filter(Boolean),
    );
    const messages = [job.error, job.result?.first_error].filter(Boolean);
    problems.replaceChildren(
      ...(messages.length || job.progress.errors
        ? [h("h2", {}, "Errors"),
           h("p", {}, `${job.progress.errors} failed requests.`),
           ...messages.map((message) => h("pre", { class: "error-text" }, message))]
        : []),
    );
    if (!trail.length && job.progress.items !== itemsCounted) {
      itemsCounted = job.progress.items;
      showItems(null).catch(fail);
    }
  }

  // Cursor-paged like the API: `trail` holds the cursors of the pages before this one.
  let trail = [];
  async function showItems(cursor) {
    const query = new URLSearchParams({ limit: String(ITEMS_PAGE) });
    if (cursor) query.set("cursor", cursor);
    const page = await request("GET", `${path}/items?${query}`);
    itemsArea.replaceChildren(page.items.length ? itemsTable(page.items) : h("p", {}, "No items yet."));
    pager.replaceChildren(
      h("button", { type: "button", disabled: !trail.length, onclick: () => showItems(trail.pop() ?? null).catch(fail) }, "Previous items"),
      h("button", { type: "button", disabled: !page.hasMore, onclick: () => { trail.push(cursor); showItems(page.nextCursor).catch(fail); } }, "Next items"),
      h("button", { type: "button", class: "quiet", onclick: () => { trail = []; showItems(null).catch(fail); } }, "Reload"),
    );
  }

  request("GET", path)
    .then((job) => {
      fill(job);
      if (!FINISHED.has(job.state)) follow(jobId, fill, viewScope.signal);
    })
    .catch(fail);
}

// ---- Submit ------------------------------------------------------------------

function field(label, control, hint) {
  const id = control.name;
  control.id = id;
  const hintId = hint ? `${id}-hint` : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hint ? h("small", { id: hintId }, hint) : null);
}

function parseExtract(text) {
  const extract = {};
  for (const line of text.split("\n").map((part) => part.trim()).filter(Boolean)) {
    const at = line.indexOf("=");
    if (at < 1) throw new ApiError(422, `extract: "${line}" is not name = selector`);
    extract[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return extract;
}

// Submit the job `spec()` makes from a form, and open its page; a refusal (the API's, or
// the form's own before anything is sent) is listed field by field in `errors`.
async function startJob(spec, errors, what) {
  try {
    const accepted = await request("POST", "/v1/jobs", spec());
    say(`Job ${accepted.id} queued.`);
    location.hash = `#/jobs/${encodeURIComponent(accepted.id)}`;
  } catch (error) {
    if (!(error instanceof ApiError)) return fail(error);
    errors.replaceChildren(h("p", {}, `${what} was not started:`), h("ul", {}, error.message.split("; ").map((line) => h("li", {}, line))));
    errors.focus();
  }
}

function submitView() {
  const errors = h("div", { role: "alert", class: "form-errors" });
  const form = h(
    "form",
    { class: "submit", novalidate: true },
    field("Start URLs", h("textarea", { name: "startUrls", rows: "3", required: true, placeholder: "https://example.com/" }), "One http(s) URL a line."),
    field("Extract", h("textarea", { name: "extract", rows: "3", placeholder: "title = h1::text" }),
      "One field a line: name = CSS selector (or xpath:…). Each page gives one item with its url."),
    h("div", { class: "row" },
      field("Most pages", h("input", { name: "maxPages", type: "number", min: "1", value: "100" })),
      field("Link depth", h("input", { name: "maxDepth", type: "number", min: "0", value: "3" })),
      field("Concurrency", h("input", { name: "concurrency", type: "number", min: "1", max: "64", value: "8" })),
      field("Queue", h("input", { name: "queue", value: "default", maxlength: "63" })),
      field("Priority", h("input", { name: "priority", type: "number", min: "0", max: "9", value: "5" }), "0 lowest, 9 highest")),
    h("div", { class: "row" },
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "followLinks", checked: true }), " Follow links"),
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "obeyRobotsTxt", checked: true }), " Obey robots.txt")),
    h("button", { type: "submit", class: "primary" }, "Start crawl"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.replaceChildren();
    const data = new FormData(form);
    await startJob(() => ({
      startUrls: data.get("startUrls").split(/\s+/).filter(Boolean),
      extract: parseExtract(data.get("extract")),
      maxPages: Number(data.get("maxPages")),
      maxDepth: Number(data.get("maxDepth")),
      concurrency: Number(data.get("concurrency")),
      queue: data.get("queue"),
      priority: Number(data.get("priority")),
      followLinks: data.get("followLinks") === "on",
      obeyRobotsTxt: data.get("obeyRobotsTxt") === "on",
    }), errors, "The crawl");
  });
  errors.tabIndex = -1;
  view.replaceChildren(h("h1", {}, "New crawl"), errors, form);
}

// ---- Projects ------------------------------------------------------------------

function runLink(project, spider, queue) {
  const query = new URLSearchParams({ project: project.name, spider });
  if (queue) query.set("queue", queue);
  return h("a", { href: `#/run?${query}`, "aria-label": `Run ${project.name}/${spider}` }, spider);
}

async function deleteVersion(project, version, reload) {
  if (!window.confirm(`Delete version ${version} of ${project}? Queued jobs pinned to it will fail.`)) return;
  try {
    await request("DELETE", `/v1/projects/${encodeURIComponent(project)}/versions/${encodeURIComponent(version)}`);
    say(`Version ${version} of ${project} deleted.`);
    reload();
  } catch (error) {
    fail(error);
  }
}

function projectSection(project, reload) {
  const heading = h("h2", {}, project.name);
  if (project.source === "image") {
    return h("section", { "aria-label": `Project ${project.name}` }, heading,
      project.installed.map((pool) => h("p", {},
        `Installed in the worker image of queue ${pool.queue}. Spiders: `,
        pool.spiders.flatMap((spider, index) => [index ? ", " : "", runLink(project, spider, pool.queue)]))));
  }
  // Newest first on the page; the API lists them oldest first, the latest last.
  const versions = [...project.versions].reverse();
  return h("section", { "aria-label": `Project ${project.name}` }, heading, h(
    "table",
    { class: "versions" },
    h("caption", {}, `Versions of ${project.name}, the latest first`),
    h("thead", {}, h("tr", {}, ["Version", "Spiders", "Deployed", "Size", ""].map((name) => h("th", { scope: "col" }, name)))),
    h("tbody", {}, versions.map((version, index) => h("tr", { "data-version": version.version },
      h("td", {}, version.version, index === 0 ? h("span", { class: "latest" }, " latest") : null),
      h("td", {}, index === 0
        ? version.spiders.flatMap((spider, at) => [at ? ", " : "", runLink(project, spider)])
        : version.spiders.join(", ")),
      h("td", {}, when(version.uploadedAt)),
      h("td", {}, `${(version.size / 1024).toFixed(1)} KiB`),
      h("td", {}, h("button", {
        type: "button",
        class: "danger",
        "aria-label": `Delete version ${version.version} of ${project.name}`,
        onclick: () => deleteVersion(project.name, version.version, reload),
      }, "Delete"))))),
  ));
}

function projectsView() {
  const area = h("div");
  view.replaceChildren(
    h("h1", {}, "Projects"),
    h("p", {}, "Scrapy projects your jobs can run. Deploy one with ", h("code", {}, "crawlfleet deploy"), " or ",
      h("code", {}, "scrapyd-deploy"), "; deleting a version needs a token with the deploy role."),
    area,
  );
  async function load() {
    const catalog = await request("GET", "/v1/projects");
    area.replaceChildren(...(catalog.projects.length
      ? catalog.projects.map((project) => projectSection(project, () => load().catch(fail)))
      : [h("p", {}, "No projects yet.")]));
  }
  load().catch(fail);
}

// ---- Run a project's spider -----------------------------------------------------

// Rows of name and value inputs (a spider's arguments, Scrapy settings), each labelled.
function pairsFieldset(legend, noun, hint) {
  const rows = h("div", { class: "pairs" });
  function addRow() {
    const number = rows.children.length + 1;
    const row = h("div", { class: "pair row" },
      h("label", {}, `${noun} ${number} name `, h("input", { name: `${noun}-name`, class: "pair-name", spellcheck: "false" })),
      h("label", {}, `${noun} ${number} value `, h("input", { name: `${noun}-value`, class: "pair-value", spellcheck: "false" })),
      h("button", { type: "button", class: "quiet", "aria-label": `Remove ${noun.toLowerCase()} ${number}`, onclick: () => row.remove() }, "Remove"));
    rows.append(row);
    return row;
  }
  const fieldset = h("fieldset", {}, h("legend", {}, legend), h("small", {}, hint), rows,
    h("button", { type: "button", onclick: () => addRow().querySelector("input").focus() }, `Add ${noun.toLowerCase()}`));
  fieldset.values = () => {
    const values = {};
    for (const row of rows.children) {
      const name = row.querySelector(".pair-name").value.trim();
      if (name) values[name] = row.querySelector(".pair-value").value;
    }
    return values;
  };
  addRow();
  return fieldset;
}

function runView(params) {
  const errors = h("div", { role: "alert", class: "form-errors", tabindex: "-1" });
  const projectSelect = h("select", { name: "project", required: true });
  const spiderSelect = h("select", { name: "spider", required: true });
  const versionSelect = h("select", { name: "version" });
  const queue = h("input", { name: "queue", value: params.get("queue") || "default", maxlength: "63" });
  const args = pairsFieldset("Spider arguments", "Argument", "As scrapy crawl -a NAME=VALUE.");
  const scrapySettings = pairsFieldset("Settings", "Setting", "Scrapy settings over the project's, as scrapy crawl -s NAME=VALUE.");
  const form = h(
    "form",
    { class: "submit", novalidate: true },
    h("div", { class: "row" },
      field("Project", projectSelect),
      field("Spider", spiderSelect),
      field("Version", versionSelect),
      field("Queue", queue),
      field("Priority", h("input", { name: "priority", type: "number", min: "0", max: "9", value: "5" }), "0 lowest, 9 highest")),
    args,
    scrapySettings,
    h("button", { type: "submit", class: "primary" }, "Run spider"),
  );
  view.replaceChildren(h("h1", {}, "Run a spider"), errors, form);

  let catalog = [];
  function choose(name, wantedSpider) {
    const project = catalog.find((candidate) => candidate.name === name);
    const spiders = !project ? []
      : project.source === "image" ? [...new Set(project.installed.flatMap((pool) => pool.spiders))].sort()
      : project.versions.at(-1).spiders;
    spiderSelect.replaceChildren(...spiders.map((spider) => h("option", { value: spider, selected: spider === wantedSpider }, spider)));
    versionSelect.replaceChildren(h("option", { value: "" }, "latest"),
      ...(project?.versions ?? []).slice().reverse().map((version) => h("option", { value: version.version }, version.version)));
    versionSelect.disabled = !project || project.source === "image";
    if (project?.source === "image" && !params.get("queue")) queue.value = project.installed[0].queue;
  }
  projectSelect.addEventListener("change", () => choose(projectSelect.value));

  request("GET", "/v1/projects")
    .then((page) => {
      catalog = page.projects;
      if (!catalog.length) {
        errors.replaceChildren(h("p", {}, "No projects to run yet: deploy one with crawlfleet deploy."));
        return;
      }
      const wanted = params.get("project") || catalog[0].name;
      projectSelect.replaceChildren(...catalog.map((project) => h("option", { value: project.name, selected: project.name === wanted }, project.name)));
      choose(projectSelect.value, params.get("spider"));
    })
    .catch(fail);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errors.replaceChildren();
    const data = new FormData(form);
    const spec = {
      project: data.get("project"),
      spider: data.get("spider"),
      spiderArgs: args.values(),
      settings: scrapySettings.values(),
      queue: data.get("queue"),
      priority: Number(data.get("priority")),
    };
    if (data.get("version")) spec.version = data.get("version");
    await startJob(() => spec, errors, "The spider");
  });
}

// ---- Worker pools --------------------------------------------------------------

function poolsView() {
  const area = h("div");
  view.replaceChildren(h("h1", {}, "Worker pools"), area);
  async function load() {
    const board = await request("GET", "/v1/pools");
    const queues = h(
      "table",
      { class: "queues" },
      h("caption", {}, "Queues"),
      h("thead", {}, h("tr", {}, ["Queue", "Queued", "In flight"].map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, board.queues.map((queue) => h("tr", {}, h("td", {}, queue.queue), h("td", {}, String(queue.queued)), h("td", {}, String(queue.inFlight))))),
    );
    const pools = board.pools.length
      ? h(
          "table",
          { class: "pools" },
          h("caption", {}, "WorkerPools, as the operator last reported them"),
          h("thead", {}, h("tr", {}, ["Pool", "Queue", "Queued", "In flight", "Desired", "Current", "Min–max", "Last scaled", "Why"].map((name) => h("th", { scope: "col" }, name)))),
          h("tbody", {}, board.pools.map(({ namespace, name, spec, status }) => h("tr", {},
            h("td", {}, `${namespace}/${name}`), h("td", {}, spec.queue),
            h("td", {}, String(status.queued ?? "—")), h("td", {}, String(status.inFlight ?? "—")),
            h("td", {}, String(status.desiredReplicas ?? "—")), h("td", {}, String(status.currentReplicas ?? "—")),
            h("td", {}, `${spec.minReplicas}–${spec.maxReplicas}`), h("td", {}, when(status.lastScaleTime)),
            h("td", {}, status.lastScaleReason ?? "")))),
        )
      : h("p", {}, "No WorkerPools reported: the operator is not running, or manages none. Workers still take jobs from the queues below.");
    area.replaceChildren(pools, queues);
  }
  load().catch(fail);
  const timer = setInterval(() => load().catch(fail), LIST_REFRESH_MS);
  viewScope.signal.addEventListener("abort", () => clearInterval(timer));
}

// ---- Sign in -------------------------------------------------------------------

function loginView(reason) {
  const message = h("p", { role: "alert", class: "form-errors" }, reason || "");
  const form = h(
    "form",
    { class: "login" },
    field("API token", h("input", { name: "token", type: "password", autocomplete: "current-password", required: true })),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = new FormData(form).get("token").trim();
    try {
      if (!(await accepts(token))) {
        message.textContent = "That token is not valid.";
        return;
      }
    } catch (error) {
      message.textContent = error.message;
      return;
    }
    session.token = token;
    location.hash = "#/jobs";
    route();
  });
  view.replaceChildren(
    h("h1", {}, "Sign in"),
    h("p", {}, "This crawlfleet needs an API token. It is kept in this browser tab only, until you sign out or close it."),
    message,
    form,
  );
  form.querySelector("input").focus();
}

// ---- Routing -------------------------------------------------------------------

function route() {
  viewScope.abort();
  viewScope = new AbortController();
  document.getElementById("sign-out").hidden = !(settings.authRequired && session.token);
  if (settings.authRequired && !session.token) return loginView();
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  for (const link of document.querySelectorAll("nav a[href^='#']")) {
    if (link.getAttribute("href") === `#/${parts[0] || "jobs"}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (parts[0] === "jobs" && parts[1]) jobView(decodeURIComponent(parts[1]));
  else if (parts[0] === "submit") submitView();
  else if (parts[0] === "pools") poolsView();
  else if (parts[0] === "projects") projectsView();
  else if (parts[0] === "run") runView(params);
  else jobsView(params);
}

session.onUnauthorized = () => {
  session.token = null;
  viewScope.abort();
  loginView("Your token was refused; sign in again.");
};

document.getElementById("sign-out").addEventListener("click", () => {
  session.token = null;
  say("Signed out.");
  route();
});

window.addEventListener("hashchange", () => {
  say("");
  route();
  view.focus();
});

async function start() {
  try {
    settings = await (await fetch("/ui/settings.json")).json();
  } catch (error) {
    fail(error);
  }
  if (settings.flowerUrl) {
    const item = document.getElementById("flower-link");
    item.querySelector("a").href = settings.flowerUrl;
    item.querySelector("a").textContent = "Flower";
    item.hidden = false;
  }
  route();
}

start();
