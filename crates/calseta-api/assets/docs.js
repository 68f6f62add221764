// Renders /openapi.json as a browsable list of operations. Written for Calseta; no dependencies.
"use strict";

const METHODS = ["get", "post", "put", "patch", "delete"];

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function resolve(doc, schema) {
  let current = schema;
  for (let depth = 0; current && current.$ref && depth < 10; depth += 1) {
    const name = current.$ref.split("/").pop();
    current = (doc.components && doc.components.schemas && doc.components.schemas[name]) || {};
  }
  return current || {};
}

function describeSchema(doc, schema, depth) {
  const resolved = resolve(doc, schema);
  if (depth > 4) return "…";
  if (resolved.type === "object" || resolved.properties) {
    const out = {};
    for (const [name, prop] of Object.entries(resolved.properties || {})) {
      out[name] = describeSchema(doc, prop, depth + 1);
    }
    return out;
  }
  if (resolved.type === "array") return [describeSchema(doc, resolved.items || {}, depth + 1)];
  if (resolved.oneOf || resolved.anyOf) {
    return (resolved.oneOf || resolved.anyOf).map((s) => JSON.stringify(describeSchema(doc, s, depth + 1))).join(" | ");
  }
  const type = Array.isArray(resolved.type) ? resolved.type.join(" | ") : resolved.type || "any";
  return resolved.format ? `${type} (${resolved.format})` : type;
}

function operationView(doc, path, method, op) {
  const scopes = (op.security || []).flatMap((req) => Object.values(req).flat());
  const summary = el("summary", {},
    el("span", { class: `method ${method}` }, method),
    el("span", { class: "path" }, path),
    el("span", {}, op.summary || ""),
    scopes.length ? el("span", { class: "scope" }, `scope: ${scopes.join(", ")}`) : el("span", { class: "scope" }, "no key"));
  const body = el("div", { class: "body" });
  if (op.description) body.append(el("p", {}, op.description));
  if (op.parameters && op.parameters.length) {
    const table = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "description")));
    for (const p of op.parameters) {
      table.append(el("tr", {}, el("td", {}, p.name + (p.required ? " *" : "")), el("td", {}, p.in),
        el("td", {}, String(describeSchema(doc, p.schema || {}, 0))), el("td", {}, p.description || "")));
    }
    body.append(table);
  }
  const request = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
  if (request) {
    body.append(el("h4", {}, "Request body"), el("pre", {}, JSON.stringify(describeSchema(doc, request.schema, 0), null, 2)));
  }
  for (const [status, response] of Object.entries(op.responses || {})) {
    const content = response.content && response.content["application/json"];
    body.append(el("h4", {}, `${status} ${response.description || ""}`));
    if (content) body.append(el("pre", {}, JSON.stringify(describeSchema(doc, content.schema, 0), null, 2)));
  }
  const details = el("details", {}, summary, body);
  details.dataset.search = `${method} ${path} ${(op.tags || []).join(" ")} ${scopes.join(" ")}`.toLowerCase();
  return details;
}

function render(doc) {
  const main = document.getElementById("operations");
  const groups = new Map();
  let count = 0;
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      count += 1;
      const tag = (op.tags && op.tags[0]) || "other";
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operationView(doc, path, method, op));
    }
  }
  for (const [tag, views] of groups) {
    main.append(el("h2", {}, tag), ...views);
  }
  document.getElementById("summary").textContent =
    `${doc.info.title} ${doc.info.version} — ${count} operations. ${doc.info.description || ""}`;
  document.getElementById("filter").addEventListener("input", (event) => {
    const needle = event.target.value.trim().toLowerCase();
    for (const node of main.querySelectorAll("details")) {
      node.hidden = needle !== "" && !node.dataset.search.includes(needle);
    }
  });
}

fetch("/openapi.json")
  .then((response) => response.json())
  .then(render)
  .catch((error) => {
    document.getElementById("summary").textContent = `Could not load /openapi.json: ${error}`;
  });
